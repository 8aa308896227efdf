package bridge

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// InviteID identifies an invitation: "<smartlockId>-<accountUserId>". Nuki
// allows one authorization per user and lock, so the id stays the same across
// re-sends.
type InviteID string

// MakeInviteID returns the id of the invitation of a user to a lock.
func MakeInviteID(smartlockID, accountUserID int64) InviteID {
	return InviteID(strconv.FormatInt(smartlockID, 10) + "-" + strconv.FormatInt(accountUserID, 10))
}

// MakeKeypadID returns the id of the n-th keypad code made here for a lock:
// "<smartlockId>-k<n>". A keypad code has no account user, and Nuki answers
// its create with no id, so the number is ours.
func MakeKeypadID(smartlockID, n int64) InviteID {
	return InviteID(strconv.FormatInt(smartlockID, 10) + "-k" + strconv.FormatInt(n, 10))
}

// ParseInviteID checks the id of an access and returns its lock and user:
// "<smartlockId>-<accountUserId>" for an invitation, "<smartlockId>-k<n>"
// for a keypad code, whose accountUserID is 0. The error wraps ErrInvalid.
func ParseInviteID(s string) (smartlockID, accountUserID int64, err error) {
	lock, user, ok := strings.Cut(s, "-")
	keypad := false
	if ok {
		smartlockID, err = strconv.ParseInt(lock, 10, 64)
		if err == nil {
			user, keypad = strings.CutPrefix(user, "k")
			accountUserID, err = strconv.ParseInt(user, 10, 64)
		}
	}
	if !ok || err != nil || smartlockID <= 0 || accountUserID <= 0 {
		return 0, 0, fmt.Errorf("%w: %s is not an invitation id (expected <smartlockId>-<accountUserId>, or <smartlockId>-k<n> for a keypad code)", ErrInvalid, quote(s))
	}
	if keypad {
		return smartlockID, 0, nil
	}
	return smartlockID, accountUserID, nil
}

// Kind says which way a guest gets in.
type Kind string

// The kinds of access.
const (
	KindApp    Kind = "app"    // an app key: the guest redeems an invite code in the Nuki app
	KindKeypad Kind = "keypad" // a keypad code: six digits typed on a Nuki Keypad within a window
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindApp || k == KindKeypad }

// Delivery says who delivers the invite code.
type Delivery string

// The deliveries.
const (
	DeliveryNuki   Delivery = "nuki"   // Nuki emails its standard invitation
	DeliveryCustom Delivery = "custom" // no Nuki email; nuki-invites delivers the code
)

// Valid reports whether d is a known delivery.
func (d Delivery) Valid() bool { return d == DeliveryNuki || d == DeliveryCustom }

// Invitation is a guest's access to one lock, with the life Nuki Web does
// not keep: when it was sent, when it expires, whether and how it was used,
// and everything that happened to it. Of Kind app (the zero Kind, as stored
// before keypad codes existed) it is one app authorization of one account
// user; of Kind keypad, one keypad code with an access window, whose
// AccountUserID is 0 and whose ExpiresAt is the window's end once the lock
// has the code.
type Invitation struct {
	ID            InviteID `json:"id"`
	Kind          Kind     `json:"kind,omitempty"`
	SmartlockID   int64    `json:"smartlockId"`
	AccountUserID int64    `json:"accountUserId"`
	Name          string   `json:"name"`
	Email         string   `json:"email"`
	Language      string   `json:"language,omitempty"`
	// TimeZone is the guest's IANA time zone for our e-mails ("": the
	// configured one).
	TimeZone      string   `json:"timeZone,omitempty"`
	LockName      string   `json:"lockName"`
	AuthID        string   `json:"authId,omitempty"` // Nuki's string id of the current authorization
	Delivery      Delivery `json:"delivery"`
	Adopted       bool     `json:"adopted,omitempty"` // found in Nuki Web, not created here
	RemoteAllowed bool     `json:"remoteAllowed,omitempty"`
	Access        Access   `json:"access"`

	Send   int       `json:"send"`   // 1 for the first sending, +1 per re-send
	SentAt time.Time `json:"sentAt"` // when Nuki Web took the request
	// ConfirmedAt is when the lock was seen to have the authorization; the
	// validity starts then. Zero while the status is sending.
	ConfirmedAt time.Time `json:"confirmedAt,omitzero"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	// LastUsedAt is the date of the guest's latest entry in the lock's
	// activity log.
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`

	AcceptedAt     time.Time `json:"acceptedAt,omitzero"`
	AcceptedSignal Signal    `json:"acceptedSignal,omitempty"`
	RevokedAt      time.Time `json:"revokedAt,omitzero"`
	FailedAt       time.Time `json:"failedAt,omitzero"`
	LastError      string    `json:"lastError,omitempty"`

	ResendCount int `json:"resendCount"`
	// ResendUnconfirmed marks a custom re-send Nuki has accepted but not yet
	// carried out; if its webhook reports failure, it is taken back.
	ResendUnconfirmed bool      `json:"resendUnconfirmed,omitempty"`
	LastResendAt      time.Time `json:"lastResendAt,omitzero"`
	AutoResends       int       `json:"autoResends,omitempty"`

	// BaseAppID is Nuki's appId when this sending was first listed; an
	// appId that appears later is an acceptance signal.
	BaseAppID int64 `json:"baseAppId,omitempty"`

	// RequestID is the advanced-API request whose webhook is awaited.
	RequestID string `json:"requestId,omitempty"`
	// Replacing is set while a new authorization must still be created: a
	// re-send under way, or a create Nuki refused. A sync does not call such an
	// invitation revoked, and the scheduler retries it (Attempts so far).
	Replacing bool `json:"replacing,omitempty"`
	Attempts  int  `json:"attempts,omitempty"`
	// PrevAuthID is the authorization a re-send replaces; a sync ignores it
	// while Nuki Web still lists it. The new one is created only once Nuki
	// no longer lists it: DeleteRequestedAt is when its delete was asked for.
	PrevAuthID        string    `json:"prevAuthId,omitempty"`
	DeleteRequestedAt time.Time `json:"deleteRequestedAt,omitzero"`
	// Deleting lists authorizations deleted here that Nuki Web may still
	// list until the lock has carried the delete out; a sync ignores them
	// and forgets each once it is gone.
	Deleting []string `json:"deleting,omitempty"`
	// DeleteLate marks a revoke made while a create may still be carried
	// out by the lock: the authorization that appears for it is deleted.
	DeleteLate bool `json:"deleteLate,omitempty"`
	// CheckRequestedAt is when the lock was asked to sync before an
	// automatic re-send; the re-send happens only after a fresh look at the
	// authorization and the activity log finds no sign of use.
	CheckRequestedAt time.Time `json:"checkRequestedAt,omitzero"`
	// HasCode reports whether a usable invite code (or keypad code) is
	// stored.
	HasCode bool `json:"hasCode,omitempty"`
	// CleanupAt is when the deletion of an ended keypad code from Nuki Web
	// was claimed; it is asked for until Nuki no longer has the code.
	CleanupAt time.Time `json:"cleanupAt,omitzero"`

	// The ledger: each names the sending (Send) whose reminder, code email or
	// automatic re-send was claimed. A claim is committed before the action,
	// so a crash can delay or drop one but never repeat it.
	Reminded       int `json:"reminded,omitempty"`
	Mailed         int `json:"mailed,omitempty"`
	AutoResentSend int `json:"autoResentSend,omitempty"`

	// Status is the status as of the last evaluation; the Service fills in
	// the current one on every read.
	Status  Status         `json:"status"`
	History []HistoryEntry `json:"history"`
}

// HistoryEntry is one thing that happened to an invitation.
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Event  EventType `json:"event"`
	Detail string    `json:"detail,omitempty"`
	Actor  string    `json:"actor,omitempty"` // who asked: "mqtt", "web:alice", "scheduler", "sync"
}

// Keypad reports whether the access is a keypad code.
func (inv *Invitation) Keypad() bool { return inv.Kind == KindKeypad }

// Clone returns a deep copy; the history is not shared.
func (inv Invitation) Clone() Invitation {
	inv.History = append([]HistoryEntry(nil), inv.History...)
	inv.Deleting = append([]string(nil), inv.Deleting...)
	return inv
}

// record appends a history entry.
func (inv *Invitation) record(at time.Time, ev EventType, actor, detail string) {
	inv.History = append(inv.History, HistoryEntry{At: at, Event: ev, Actor: actor, Detail: detail})
}
