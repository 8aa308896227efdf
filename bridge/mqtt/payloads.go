package mqtt

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
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

// IsZero lets omitzero leave out a time that is not there.
func (t timestamp) IsZero() bool { return time.Time(t).IsZero() }

// inviteState is the retained state of one invitation. It deliberately has
// no email and no code, and none of the core's bookkeeping. Times are null
// when unknown.
type inviteState struct {
	Status         bridge.Status `json:"status"`
	Name           string        `json:"name"`
	Lock           string        `json:"lock"`
	SmartlockID    int64         `json:"smartlock_id"`
	AccountUserID  int64         `json:"account_user_id"`
	SentAt         timestamp     `json:"sent_at"`      // when Nuki Web took the request
	ConfirmedAt    timestamp     `json:"confirmed_at"` // when the lock confirmed it; the validity starts
	ExpiresAt      timestamp     `json:"expires_at"`
	AcceptedAt     timestamp     `json:"accepted_at"`
	AcceptedSignal bridge.Signal `json:"accepted_signal"`
	LastUsed       timestamp     `json:"last_used"` // the guest's latest entry in the lock's activity log
	ResendCount    int           `json:"resend_count"`
	LastError      string        `json:"last_error"`
	*keypadState                 // a keypad code's; absent for invitations
}

// keypadState is what a keypad code's state has besides an invitation's:
// its kind and its access window (window_start null: from the start).
type keypadState struct {
	Kind        bridge.Kind `json:"kind"`
	WindowStart timestamp   `json:"window_start"`
	WindowEnd   timestamp   `json:"window_end"`
}

// inviteStatePayload encodes an invitation's or a keypad code's state. While it is sending,
// confirmed_at and expires_at are null (Invitation.Validity), so Home
// Assistant shows no expiry rather than a stale one.
func inviteStatePayload(inv bridge.Invitation) []byte {
	confirmed, expires := inv.Validity()
	var keypad *keypadState
	if inv.Keypad() {
		keypad = &keypadState{Kind: inv.Kind, WindowStart: timestamp(inv.Access.From.UTC()), WindowEnd: timestamp(inv.Access.Until.UTC())}
	}
	return mustJSON(inviteState{
		Status: inv.Status, Name: inv.Name, Lock: inv.LockName,
		SmartlockID: inv.SmartlockID, AccountUserID: inv.AccountUserID,
		SentAt: timestamp(inv.SentAt), ConfirmedAt: timestamp(confirmed), ExpiresAt: timestamp(expires),
		AcceptedAt: timestamp(inv.AcceptedAt), AcceptedSignal: inv.AcceptedSignal, LastUsed: timestamp(inv.LastUsedAt),
		ResendCount: inv.ResendCount, LastError: inv.LastError,
		keypadState: keypad,
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

// lockState is the retained state of one lock: how many of its app
// invitations are open (sending, pending, expiring soon or failed), and how
// many of its keypad codes can open it now or later (scheduled, active or
// used; their window has not ended).
type lockState struct {
	OpenInvitations   int `json:"open_invitations"`
	ActiveKeypadCodes int `json:"active_keypad_codes"`
}

// add counts one access of the lock.
func (st *lockState) add(inv bridge.Invitation) {
	switch {
	case !inv.Keypad():
		if inv.Status.Open() {
			st.OpenInvitations++
		}
	case inv.Status == bridge.StatusScheduled, inv.Status == bridge.StatusActive, inv.Status == bridge.StatusUsed:
		st.ActiveKeypadCodes++
	}
}

// nukiWebPayload is the state of the Nuki Web connectivity entity after a
// sync that ended in status: ON when the sync reached Nuki Web (whatever
// came of it afterwards), OFF when Nuki Web was unreachable or refused the
// token. While the first sync runs there is nothing to tell (ok is false):
// what is retained stays.
func nukiWebPayload(status bridge.SyncStatus) (payload []byte, ok bool) {
	switch status {
	case bridge.SyncOK, bridge.SyncRateLimited, bridge.SyncStoreError, bridge.SyncHeld:
		return []byte("ON"), true
	case bridge.SyncUnreachable, bridge.SyncAuthError:
		return []byte("OFF"), true
	}
	return nil, false
}

// eventMessage is one public event on <base>/event. A used event also says
// how the guest used the lock: action and trigger in words, used_at the
// time of the activity-log entry. No email, no code.
type eventMessage struct {
	EventType bridge.EventType `json:"event_type"`
	InviteID  bridge.InviteID  `json:"invite_id"`
	Name      string           `json:"name"`
	Lock      string           `json:"lock"`
	At        timestamp        `json:"at"`
	Action    string           `json:"action,omitempty"`
	Trigger   string           `json:"trigger,omitempty"`
	UsedAt    timestamp        `json:"used_at,omitzero"`
}

func eventPayload(ev bridge.Event) []byte {
	m := eventMessage{
		EventType: ev.Type, InviteID: ev.Invitation.ID, Name: ev.Invitation.Name,
		Lock: ev.Invitation.LockName, At: timestamp(ev.At),
	}
	if (ev.Type == bridge.EventUsed || ev.Type == bridge.EventCodeUsed) && ev.Use != nil {
		m.Action, m.Trigger = bridge.ActionName(ev.Use.Action), bridge.TriggerName(ev.Use.Trigger)
		m.UsedAt = timestamp(ev.Use.Date)
	}
	return mustJSON(m)
}

// unmanagedCode is one keypad code made elsewhere (in Nuki Web or the Nuki
// app) on <base>/keypad/unmanaged: what keypad/adopt needs and a person
// recognises it by, never the code.
type unmanagedCode struct {
	AuthID      string `json:"auth_id"`
	SmartlockID int64  `json:"smartlock_id"`
	Lock        string `json:"lock"`
	Name        string `json:"name"`
}

// unmanagedPayload lists the keypad codes made elsewhere as a JSON array,
// ordered by lock, name and id so that an unchanged list encodes the same.
func unmanagedPayload(codes []bridge.Auth, locks map[int64]bridge.Lock) []byte {
	out := make([]unmanagedCode, 0, len(codes))
	for _, a := range codes {
		out = append(out, unmanagedCode{AuthID: a.ID, SmartlockID: a.SmartlockID, Lock: locks[a.SmartlockID].Name, Name: a.Name})
	}
	slices.SortFunc(out, func(x, y unmanagedCode) int {
		return cmp.Or(cmp.Compare(x.SmartlockID, y.SmartlockID), strings.Compare(x.Name, y.Name), strings.Compare(x.AuthID, y.AuthID))
	})
	return mustJSON(out)
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

// digest identifies a payload, to skip publishing what is already there.
// The zero digest stands for a payload that is not known: the broker may or
// may not hold it.
type digest [16]byte

// hashOf returns the digest of a payload: the first half of its SHA-256.
func hashOf(payload []byte) digest {
	sum := sha256.Sum256(payload)
	return digest(sum[:16])
}

// String spells d as the DiscoveryStore keeps it: 32 hex digits, or "" when
// it is not known.
func (d digest) String() string {
	if d == (digest{}) {
		return ""
	}
	return hex.EncodeToString(d[:])
}

// parseDigest reads a digest as String spells it; anything else is not
// known.
func parseDigest(s string) digest {
	var d digest
	if len(s) != hex.EncodedLen(len(d)) {
		return digest{}
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return digest{}
	}
	return d
}
