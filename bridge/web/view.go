package web

import (
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// invitation is an invitation as the API serves it: the fields openapi.json
// documents as Invitation, in its casing, and none of the bookkeeping the
// store keeps for the core (pending requests, deletes awaited, the ledger of
// reminders and emails).
type invitation struct {
	ID            bridge.InviteID `json:"id"`
	SmartlockID   int64           `json:"smartlockId"`
	AccountUserID int64           `json:"accountUserId"`
	Name          string          `json:"name"`
	Email         string          `json:"email"`
	Language      string          `json:"language,omitempty"`
	LockName      string          `json:"lockName"`
	AuthID        string          `json:"authId,omitempty"`
	Delivery      bridge.Delivery `json:"delivery"`
	Adopted       bool            `json:"adopted,omitempty"`
	RemoteAllowed bool            `json:"remoteAllowed,omitempty"`
	Access        bridge.Access   `json:"access"`

	Send        int       `json:"send"`
	SentAt      time.Time `json:"sentAt"`
	ConfirmedAt time.Time `json:"confirmedAt,omitzero"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	LastUsedAt  time.Time `json:"lastUsedAt,omitzero"`

	AcceptedAt     time.Time     `json:"acceptedAt,omitzero"`
	AcceptedSignal bridge.Signal `json:"acceptedSignal,omitempty"`
	RevokedAt      time.Time     `json:"revokedAt,omitzero"`
	FailedAt       time.Time     `json:"failedAt,omitzero"`
	LastError      string        `json:"lastError,omitempty"`

	ResendCount  int       `json:"resendCount"`
	LastResendAt time.Time `json:"lastResendAt,omitzero"`
	AutoResends  int       `json:"autoResends,omitempty"`
	HasCode      bool      `json:"hasCode,omitempty"`

	Status  bridge.Status         `json:"status"`
	History []bridge.HistoryEntry `json:"history"`
}

// viewOf returns what the API shows of inv. While inv is sending, the lock
// has not confirmed the current sending: a confirmation and expiry still
// recorded from the sending a re-send replaces are left out.
func viewOf(inv bridge.Invitation) invitation {
	v := invitation{
		ID: inv.ID, SmartlockID: inv.SmartlockID, AccountUserID: inv.AccountUserID,
		Name: inv.Name, Email: inv.Email, Language: inv.Language, LockName: inv.LockName, AuthID: inv.AuthID,
		Delivery: inv.Delivery, Adopted: inv.Adopted, RemoteAllowed: inv.RemoteAllowed, Access: inv.Access,
		Send: inv.Send, SentAt: inv.SentAt, ConfirmedAt: inv.ConfirmedAt, ExpiresAt: inv.ExpiresAt, LastUsedAt: inv.LastUsedAt,
		AcceptedAt: inv.AcceptedAt, AcceptedSignal: inv.AcceptedSignal, RevokedAt: inv.RevokedAt, FailedAt: inv.FailedAt,
		LastError: inv.LastError, ResendCount: inv.ResendCount, LastResendAt: inv.LastResendAt, AutoResends: inv.AutoResends,
		HasCode: inv.HasCode, Status: inv.Status, History: inv.History,
	}
	v.ConfirmedAt, v.ExpiresAt = inv.Validity()
	return v
}

// viewsOf returns the views of invs, never nil.
func viewsOf(invs []bridge.Invitation) []invitation {
	out := make([]invitation, len(invs))
	for i, inv := range invs {
		out[i] = viewOf(inv)
	}
	return out
}
