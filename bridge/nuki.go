package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuthTypeApp is the Nuki authorization type of an app key, the only kind
// that comes with an invitation code.
const AuthTypeApp = 0

// AuthTypeKeypadCode is the Nuki authorization type of a keypad code: six
// digits typed on a Nuki Keypad paired with the lock, with no account user.
const AuthTypeKeypadCode = 13

// Lock is a smart lock (or opener, door) of the Nuki Web account.
type Lock struct {
	ID   int64  `json:"smartlockId"`
	Name string `json:"name"`
	Type int    `json:"type"`
	// Keypad is true when a Nuki Keypad (either model) is paired with the
	// lock; only such a lock takes keypad codes.
	Keypad bool `json:"keypad,omitempty"`
}

// User is a Nuki Web account user: the person an app key is given to.
type User struct {
	ID       int64  `json:"accountUserId"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Language string `json:"language"`
}

// Access restricts when an authorization may be used. The zero value allows
// any time. Times of day are minutes from midnight; weekdays a bitmask with
// 64 = Monday … 1 = Sunday, 0 meaning every day.
type Access struct {
	From      time.Time `json:"from,omitzero"`
	Until     time.Time `json:"until,omitzero"`
	WeekDays  int       `json:"weekDays,omitempty"`
	FromTime  int       `json:"fromTime,omitempty"`
	UntilTime int       `json:"untilTime,omitempty"`
}

// Auth is an authorization as Nuki Web reports it. Invitations are built from
// the app authorizations (Type 0) of account users.
type Auth struct {
	ID             string    `json:"id"`
	SmartlockID    int64     `json:"smartlockId"`
	AccountUserID  int64     `json:"accountUserId"`
	AuthID         int64     `json:"authId"`
	AppID          int64     `json:"appId"`
	Type           int       `json:"type"`
	Name           string    `json:"name"`
	Enabled        bool      `json:"enabled"`
	RemoteAllowed  bool      `json:"remoteAllowed"`
	LockCount      int       `json:"lockCount"`
	Access         Access    `json:"access"`
	LastActiveDate time.Time `json:"lastActiveDate,omitzero"`
	CreationDate   time.Time `json:"creationDate,omitzero"`
	UpdateDate     time.Time `json:"updateDate,omitzero"`
	Error          string    `json:"error,omitempty"`
	// OperationID is set while Nuki Web waits for the lock to carry out a
	// change to this authorization; "" once the lock has done it.
	OperationID string `json:"operationId,omitempty"`
	// Code is the six-digit code of a keypad code (Type 13) as Nuki Web
	// lists it; empty for every other type. It is never encoded (json:"-"),
	// so a record stored as JSON keeps no code, and Equal does not compare
	// it: Nuki moves UpdateDate when a code changes.
	Code Secret `json:"-"`
}

// Equal reports whether two authorizations carry the same facts.
func (a Auth) Equal(b Auth) bool {
	return a.ID == b.ID && a.SmartlockID == b.SmartlockID && a.AccountUserID == b.AccountUserID &&
		a.AuthID == b.AuthID && a.AppID == b.AppID && a.Type == b.Type && a.Name == b.Name &&
		a.Enabled == b.Enabled && a.RemoteAllowed == b.RemoteAllowed && a.LockCount == b.LockCount &&
		a.Access.Equal(b.Access) && a.LastActiveDate.Equal(b.LastActiveDate) &&
		a.CreationDate.Equal(b.CreationDate) && a.UpdateDate.Equal(b.UpdateDate) && a.Error == b.Error &&
		a.OperationID == b.OperationID
}

// Equal reports whether two access windows are the same.
func (a Access) Equal(b Access) bool {
	return a.From.Equal(b.From) && a.Until.Equal(b.Until) && a.WeekDays == b.WeekDays &&
		a.FromTime == b.FromTime && a.UntilTime == b.UntilTime
}

// Snapshot is everything one sync reads from Nuki Web.
type Snapshot struct {
	Locks []Lock
	Users []User
	Auths []Auth // app authorizations of account users only
	// KeypadCodes are the keypad codes (Type 13) of every lock, each with
	// its Code; app authorizations are never among them.
	KeypadCodes []Auth
	Calls       int // HTTP requests it took
}

// Grant is what is asked of Nuki Web when an app authorization is created.
type Grant struct {
	AccountUserID int64
	Name          string // shown in the Nuki app; at most 32 characters
	RemoteAllowed bool
	Access        Access
}

// KeypadGrant is what is asked of Nuki Web when a keypad code is created.
// Nuki's rules for the code: six digits from 1 to 9 (the keypad has no 0
// key), not starting with "12", not already used on the lock (see
// CheckKeypadCode); Nuki Web refuses a code that breaks them, and a lock with
// no keypad paired.
type KeypadGrant struct {
	Name   string // shown in Nuki Web and in the activity log; at most 32 characters
	Code   Secret
	Access Access
}

// CheckKeypadCode reports whether code obeys Nuki's rules for a keypad code
// (six digits from 1 to 9, not starting with "12"). It returns nil or an
// error matching ErrInvalid that does not contain the code. Whether the code
// is free on a lock only Nuki Web knows.
func CheckKeypadCode(code Secret) error {
	c := code.Reveal()
	if len(c) != 6 {
		return fmt.Errorf("a keypad code has 6 digits, this one has %d: %w", len(c), ErrInvalid)
	}
	for _, r := range c {
		if r < '1' || r > '9' {
			return fmt.Errorf("a keypad code has only the digits 1 to 9 (the keypad has no 0 key): %w", ErrInvalid)
		}
	}
	if strings.HasPrefix(c, "12") {
		return fmt.Errorf("keypad codes that start with 12 are refused by Nuki: %w", ErrInvalid)
	}
	return nil
}

// NewUser is an account user to create in Nuki Web.
type NewUser struct {
	Email    string
	Name     string
	Language string
}

// AuthCreation is the outcome of an advanced (no-email) authorization request,
// delivered by Nuki Web as a webhook and matched by RequestID.
type AuthCreation struct {
	RequestID string
	Success   bool
	Results   []AuthCreationResult
}

// AuthCreationResult is the outcome on one lock.
type AuthCreationResult struct {
	SmartlockID int64
	Success     bool
	AuthID      string // Nuki's string id of the new authorization, if known
	ErrorCode   string // e.g. "ff" (lock offline), "0x13" (200-auth limit)
	Code        Secret // the invite code, on success
}

// LogEntry is one entry of a lock's activity log (Nuki's SmartlockLog).
type LogEntry struct {
	ID            string    `json:"id"`
	SmartlockID   int64     `json:"smartlockId"`
	AccountUserID int64     `json:"accountUserId,omitempty"`
	AuthID        string    `json:"authId,omitempty"` // the string id of the authorization used
	Name          string    `json:"name,omitempty"`
	Action        int       `json:"action"`  // 1 unlock, 2 lock, 3 unlatch, 4 lock'n'go, 5 lock'n'go with unlatch, …
	Trigger       int       `json:"trigger"` // 0 system, 1 manual, 2 button, 3 automatic, 4 web, 5 app, 6 auto lock, 7 accessory, 255 keypad
	Source        int       `json:"source,omitempty"`
	State         int       `json:"state"` // 0 success
	Date          time.Time `json:"date"`
}

// Log trigger and action values the bridge names.
const (
	TriggerApp    = 5
	TriggerKeypad = 255
	ActionUnlock  = 1
	ActionLock    = 2
	ActionUnlatch = 3
)

// Log source and state values the bridge names. An entry with Trigger
// TriggerKeypad and Source SourceKeypadCode is a keypad code typed on the
// keypad; only State StateSuccess means the lock acted on it.
const (
	SourceKeypadCode = 1
	StateSuccess     = 0
)

// Nuki is everything the Service needs of Nuki Web, in one interface: the
// Service is its only consumer and uses all of it.
type Nuki interface {
	// Fetch reads the account's locks, users, app authorizations and keypad
	// codes.
	Fetch(ctx context.Context) (Snapshot, error)

	// FindUser finds the account user with that email; none is an error
	// matching ErrNotFound. CreateUser adds one.
	FindUser(ctx context.Context, email string) (User, error)
	CreateUser(ctx context.Context, u NewUser) (User, error)

	// CreateAuth creates an app authorization and makes Nuki email an
	// invite code; CreateAdvancedAuth does not, and answers a request id
	// whose outcome arrives later as an AuthCreation. DeleteAuth deletes an
	// authorization of any type.
	CreateAuth(ctx context.Context, smartlockID int64, g Grant) error
	CreateAdvancedAuth(ctx context.Context, smartlockIDs []int64, g Grant) (requestID string, err error)
	DeleteAuth(ctx context.Context, smartlockID int64, authID string) error

	// FindAuth looks up the app authorization of one user on one lock, for
	// an action that must not wait for the next sync; none is an error
	// matching ErrNotFound.
	FindAuth(ctx context.Context, smartlockID, accountUserID int64) (Auth, error)

	// CreateKeypadCode asks for a keypad code on locks; it answers before
	// the lock has the code, with no id. FindKeypadCode returns the listed
	// keypad code of a lock with that code, or an error matching
	// ErrNotFound.
	CreateKeypadCode(ctx context.Context, smartlockIDs []int64, k KeypadGrant) error
	FindKeypadCode(ctx context.Context, smartlockID int64, code Secret) (Auth, error)

	// ActivityLog reads the activity log of every lock of the account: the
	// entries dated after since, oldest first; when Nuki has more than one
	// read takes, truncated is true and the entries are the newest ones.
	ActivityLog(ctx context.Context, since time.Time) (entries []LogEntry, truncated bool, err error)

	// SyncLock asks a lock to sync with Nuki Web now, so that its counters
	// (lockCount, lastActiveDate) and pending changes catch up.
	SyncLock(ctx context.Context, smartlockID int64) error
}
