package mqtt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// timestamp encodes a time as RFC 3339 with its zone, or null when zero, so
// Home Assistant's timestamp sensors read "unknown" rather than an error.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(time.RFC3339)+8)
	b = append(b, '"')
	b = tt.AppendFormat(b, time.RFC3339) // digits, signs and colons: nothing to escape
	return append(b, '"'), nil
}

// inviteState is the retained state of one invitation. It deliberately has
// no email and no code.
type inviteState struct {
	Status         bridge.Status `json:"status"`
	Name           string        `json:"name"`
	Lock           string        `json:"lock"`
	SmartlockID    int64         `json:"smartlock_id"`
	AccountUserID  int64         `json:"account_user_id"`
	SentAt         timestamp     `json:"sent_at"`
	ExpiresAt      timestamp     `json:"expires_at"`
	AcceptedAt     timestamp     `json:"accepted_at"`
	AcceptedSignal bridge.Signal `json:"accepted_signal"`
	ResendCount    int           `json:"resend_count"`
	LastError      string        `json:"last_error"`
}

func inviteStatePayload(inv bridge.Invitation) []byte {
	return mustJSON(inviteState{
		Status: inv.Status, Name: inv.Name, Lock: inv.LockName,
		SmartlockID: inv.SmartlockID, AccountUserID: inv.AccountUserID,
		SentAt: timestamp(inv.SentAt), ExpiresAt: timestamp(inv.ExpiresAt), AcceptedAt: timestamp(inv.AcceptedAt),
		AcceptedSignal: inv.AcceptedSignal, ResendCount: inv.ResendCount, LastError: inv.LastError,
	})
}

// bridgeStatePayload flattens the sync state: the counts become top-level
// keys named after the statuses ("pending": 3), every status present.
func bridgeStatePayload(st bridge.SyncState) []byte {
	status := st.Status
	if status == "" {
		status = bridge.SyncRunning // no sync has finished yet
	}
	m := map[string]any{
		"sync_status": status,
		"last_sync":   timestamp(st.LastSync),
		"last_error":  st.LastError,
	}
	for _, s := range bridge.Statuses {
		m[string(s)] = st.Counts[s]
	}
	return mustJSON(m)
}

type eventMessage struct {
	EventType bridge.EventType `json:"event_type"`
	InviteID  bridge.InviteID  `json:"invite_id"`
	Name      string           `json:"name"`
	Lock      string           `json:"lock"`
	At        timestamp        `json:"at"`
}

func eventPayload(ev bridge.Event) []byte {
	return mustJSON(eventMessage{
		EventType: ev.Type, InviteID: ev.Invitation.ID, Name: ev.Invitation.Name,
		Lock: ev.Invitation.LockName, At: timestamp(ev.At),
	})
}

// codeMessage carries a revealed code; it is published once, not retained.
type codeMessage struct {
	InviteID  bridge.InviteID `json:"invite_id"`
	Code      string          `json:"code"`
	ExpiresAt timestamp       `json:"expires_at"`
}

// mustJSON encodes values whose types cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("mqtt: encode " + err.Error())
	}
	return b
}

// hashOf identifies a payload, to skip publishing what is already there.
func hashOf(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:16])
}
