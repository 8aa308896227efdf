package web

import (
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The types in this file are what the API writes: each is documented under
// the same name in openapi.json, every field in snake_case, as the request
// bodies, the CSV export and the MQTT payloads are. They are built from the
// core's types and never share their JSON: the store's format and the API's
// change apart. Every value is a copy; callers may keep and change them.

// Invitation is an invitation as the API serves it: an app key (Kind "app")
// or a keypad code (Kind "keypad"), with the fields openapi.json documents as
// Invitation and none of the bookkeeping the store keeps for the core
// (pending requests, deletes awaited, the ledger of reminders and emails).
type Invitation struct {
	ID   bridge.InviteID `json:"id"`
	Kind bridge.Kind     `json:"kind"` // "app" or "keypad"
	// AccountUserID is 0 for a keypad code, which has no account user.
	SmartlockID   int64  `json:"smartlock_id"`
	AccountUserID int64  `json:"account_user_id"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	Language      string `json:"language,omitempty"`
	// TimeZone is the guest's IANA time zone for the e-mails of a keypad
	// code; empty: the configured one.
	TimeZone      string          `json:"time_zone,omitempty"`
	LockName      string          `json:"lock_name"`
	AuthID        string          `json:"auth_id,omitempty"`
	Delivery      bridge.Delivery `json:"delivery"`
	Adopted       bool            `json:"adopted,omitempty"`
	RemoteAllowed bool            `json:"remote_allowed,omitempty"`
	Access        Access          `json:"access"`

	Send        int       `json:"send"`
	SentAt      time.Time `json:"sent_at"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	LastUsedAt  time.Time `json:"last_used_at,omitzero"`

	AcceptedAt     time.Time     `json:"accepted_at,omitzero"`
	AcceptedSignal bridge.Signal `json:"accepted_signal,omitempty"`
	RevokedAt      time.Time     `json:"revoked_at,omitzero"`
	FailedAt       time.Time     `json:"failed_at,omitzero"`
	LastError      string        `json:"last_error,omitempty"`

	ResendCount  int       `json:"resend_count"`
	LastResendAt time.Time `json:"last_resend_at,omitzero"`
	AutoResends  int       `json:"auto_resends,omitempty"`
	HasCode      bool      `json:"has_code,omitempty"`

	Status bridge.Status `json:"status"`
	// History is oldest first; null in the list and in the event stream,
	// which leave it out.
	History []HistoryEntry `json:"history"`
}

// Access is when an invitation may be used. Times of day are minutes from
// midnight; WeekDays is Nuki's bitmask, 64 = Monday … 1 = Sunday, 0 meaning
// every day.
type Access struct {
	From      time.Time `json:"from,omitzero"`
	Until     time.Time `json:"until,omitzero"`
	WeekDays  int       `json:"week_days,omitempty"`
	FromTime  int       `json:"from_time,omitempty"`
	UntilTime int       `json:"until_time,omitempty"`
}

// HistoryEntry is one thing that happened to an invitation.
type HistoryEntry struct {
	At     time.Time        `json:"at"`
	Event  bridge.EventType `json:"event"`
	Detail string           `json:"detail,omitempty"`
	Actor  string           `json:"actor,omitempty"` // who asked: "mqtt", "web:alice", "scheduler", "sync"
}

// Lock is a lock of the Nuki Web account.
type Lock struct {
	SmartlockID int64  `json:"smartlock_id"`
	Name        string `json:"name"`
	Type        int    `json:"type"` // Nuki's device type
	// Keypad reports whether a Nuki Keypad is paired, so that the lock
	// takes keypad codes.
	Keypad bool `json:"keypad"`
}

// SyncState is the bridge's link to Nuki Web and how many invitations are
// in each status.
type SyncState struct {
	SyncStatus bridge.SyncStatus     `json:"sync_status"`
	LastSync   time.Time             `json:"last_sync,omitzero"` // the last successful sync
	LastError  string                `json:"last_error"`
	Counts     map[bridge.Status]int `json:"counts"`
}

// Code is the answer to a reveal: the only place a code leaves on purpose.
type Code struct {
	InviteID  bridge.InviteID `json:"invite_id"`
	Code      string          `json:"code"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
}

// UnmanagedCode is a keypad code made elsewhere (in Nuki Web or the Nuki
// app) that the last sync listed: what a person recognises it by and what
// an adoption needs, never its digits.
type UnmanagedCode struct {
	AuthID      string    `json:"auth_id"`
	SmartlockID int64     `json:"smartlock_id"`
	LockName    string    `json:"lock_name"`
	Name        string    `json:"name"`
	Access      Access    `json:"access"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

// UnmanagedCodeList is the answer of GET /api/v1/keypad-codes/unmanaged.
type UnmanagedCodeList struct {
	KeypadCodes []UnmanagedCode `json:"keypad_codes"`
}

// InvitationList is the answer of a list or a create.
type InvitationList struct {
	Invitations []Invitation `json:"invitations"`
}

// LockList is the answer of GET /api/v1/locks.
type LockList struct {
	Locks []Lock `json:"locks"`
}

// viewOf returns what the API shows of inv. While inv is sending, the lock
// has not confirmed the current sending: a confirmation and expiry still
// recorded from the sending a re-send replaces are left out.
func viewOf(inv bridge.Invitation) Invitation {
	kind, delivery := inv.Kind, inv.Delivery
	if kind == "" {
		kind = bridge.KindApp // stored before keypad codes existed
	}
	if kind == bridge.KindKeypad && delivery == "" {
		delivery = bridge.DeliveryCustom // adopted: nuki-invites hands the code over, as for its own
	}
	v := Invitation{
		ID: inv.ID, Kind: kind, SmartlockID: inv.SmartlockID, AccountUserID: inv.AccountUserID,
		Name: inv.Name, Email: inv.Email, Language: inv.Language, TimeZone: inv.TimeZone, LockName: inv.LockName,
		AuthID: inv.AuthID, Delivery: delivery, Adopted: inv.Adopted, RemoteAllowed: inv.RemoteAllowed,
		Access: Access{From: inv.Access.From, Until: inv.Access.Until, WeekDays: inv.Access.WeekDays,
			FromTime: inv.Access.FromTime, UntilTime: inv.Access.UntilTime},
		Send: inv.Send, SentAt: inv.SentAt, LastUsedAt: inv.LastUsedAt,
		AcceptedAt: inv.AcceptedAt, AcceptedSignal: inv.AcceptedSignal, RevokedAt: inv.RevokedAt, FailedAt: inv.FailedAt,
		LastError: inv.LastError, ResendCount: inv.ResendCount, LastResendAt: inv.LastResendAt, AutoResends: inv.AutoResends,
		HasCode: inv.HasCode, Status: inv.Status,
	}
	v.ConfirmedAt, v.ExpiresAt = inv.Validity()
	if inv.History != nil {
		v.History = make([]HistoryEntry, len(inv.History))
		for i, e := range inv.History {
			v.History[i] = HistoryEntry{At: e.At, Event: e.Event, Detail: e.Detail, Actor: e.Actor}
		}
	}
	return v
}

// viewsOf returns the views of invs, never nil.
func viewsOf(invs []bridge.Invitation) []Invitation {
	out := make([]Invitation, len(invs))
	for i, inv := range invs {
		out[i] = viewOf(inv)
	}
	return out
}

// locksOf returns the views of locks, never nil.
func locksOf(locks []bridge.Lock) []Lock {
	out := make([]Lock, len(locks))
	for i, l := range locks {
		out[i] = Lock{SmartlockID: l.ID, Name: l.Name, Type: l.Type, Keypad: l.Keypad}
	}
	return out
}

// unmanagedOf returns the views of keypad codes made elsewhere, never nil,
// with their locks' names. The codes' digits are never copied.
func unmanagedOf(codes []bridge.Auth, locks []bridge.Lock) []UnmanagedCode {
	names := make(map[int64]string, len(locks))
	for _, l := range locks {
		names[l.ID] = l.Name
	}
	out := make([]UnmanagedCode, len(codes))
	for i, a := range codes {
		out[i] = UnmanagedCode{AuthID: a.ID, SmartlockID: a.SmartlockID, LockName: names[a.SmartlockID], Name: a.Name,
			Access: Access{From: a.Access.From, Until: a.Access.Until, WeekDays: a.Access.WeekDays,
				FromTime: a.Access.FromTime, UntilTime: a.Access.UntilTime},
			CreatedAt: a.CreationDate}
	}
	return out
}

// stateOf returns the view of st, its counts copied.
func stateOf(st bridge.SyncState) SyncState {
	counts := make(map[bridge.Status]int, len(st.Counts))
	for status, n := range st.Counts {
		counts[status] = n
	}
	return SyncState{SyncStatus: st.Status, LastSync: st.LastSync, LastError: st.LastError, Counts: counts}
}
