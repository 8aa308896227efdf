package mqtt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestInviteStateTimes(t *testing.T) {
	sent := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	confirmed := sent.Add(20 * time.Second)
	tests := []struct {
		name string
		inv  bridge.Invitation
		want map[string]any
	}{
		{"pending", bridge.Invitation{Status: bridge.StatusPending, SentAt: sent, ConfirmedAt: confirmed, ExpiresAt: confirmed.Add(48 * time.Hour)},
			map[string]any{"sent_at": "2026-03-01T10:00:00Z", "confirmed_at": "2026-03-01T10:00:20Z", "expires_at": "2026-03-03T10:00:20Z", "last_used": nil}},
		{"sending, not confirmed yet", bridge.Invitation{Status: bridge.StatusSending, SentAt: sent},
			map[string]any{"sent_at": "2026-03-01T10:00:00Z", "confirmed_at": nil, "expires_at": nil}},
		// A re-send under way still records the sending it replaces; its
		// expiry is no longer true.
		{"re-send under way", bridge.Invitation{Status: bridge.StatusSending, SentAt: sent, ConfirmedAt: confirmed,
			ExpiresAt: confirmed.Add(48 * time.Hour), LastUsedAt: sent.Add(time.Hour)},
			map[string]any{"confirmed_at": nil, "expires_at": nil, "last_used": "2026-03-01T11:00:00Z"}},
		{"used, in another zone", bridge.Invitation{Status: bridge.StatusAccepted, LastUsedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))},
			map[string]any{"last_used": "2026-03-01T12:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			if err := json.Unmarshal(inviteStatePayload(tt.inv), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if w, ok := got[k]; !ok || w != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestEventPayloadSaysHowOnlyForUse(t *testing.T) {
	inv := bridge.Invitation{ID: "101-201", Name: "Alice", Email: "alice@example.com", LockName: "Front door"}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	use := &bridge.LogEntry{SmartlockID: 101, AccountUserID: 201, Action: bridge.ActionUnlock, Trigger: 255, Date: at.Add(-time.Minute)}
	tests := []struct {
		ev   bridge.Event
		want string
	}{
		{bridge.Event{Type: bridge.EventAccepted, At: at, Invitation: inv},
			`{"event_type":"accepted","invite_id":"101-201","name":"Alice","lock":"Front door","at":"2026-03-01T12:00:00Z"}`},
		{bridge.Event{Type: bridge.EventUsed, At: at, Invitation: inv, Use: use},
			`{"event_type":"used","invite_id":"101-201","name":"Alice","lock":"Front door","at":"2026-03-01T12:00:00Z",` +
				`"action":"unlock","trigger":"keypad","used_at":"2026-03-01T11:59:00Z"}`},
		{bridge.Event{Type: bridge.EventUsed, At: at, Invitation: inv}, // no entry: nothing to say how
			`{"event_type":"used","invite_id":"101-201","name":"Alice","lock":"Front door","at":"2026-03-01T12:00:00Z"}`},
	}
	for _, tt := range tests {
		if got := string(eventPayload(tt.ev)); got != tt.want {
			t.Errorf("%s event:\n got %s\nwant %s", tt.ev.Type, got, tt.want)
		}
	}
}

// TestLockDevice: a lock's device is named and modelled after the lock as
// far as Nuki tells; its entities' unique ids depend on the lock id only,
// and only a lock with a keypad counts keypad codes.
func TestLockDevice(t *testing.T) {
	b := New(nil, nil, Options{BaseTopic: "nuki_invites"})
	tests := []struct {
		lock                  bridge.Lock
		name, model, entityID string
	}{
		{bridge.Lock{ID: 7, Name: "Front door", Type: 4}, "Front door", "Smart Lock 3.0/4th generation", "sensor.nuki_invites_front_door_open_invitations"},
		{bridge.Lock{ID: 7, Name: "Haustür", Type: 0}, "Haustür", "Smart Lock 1.0/2.0", "sensor.nuki_invites_haustur_open_invitations"},
		{bridge.Lock{ID: 7, Name: "Intercom", Type: 2}, "Intercom", "Opener", "sensor.nuki_invites_intercom_open_invitations"},
		{bridge.Lock{ID: 7, Name: "Shed", Type: 3}, "Shed", "Smart Door", "sensor.nuki_invites_shed_open_invitations"},
		{bridge.Lock{ID: 7, Name: "Future", Type: 42}, "Future", "", "sensor.nuki_invites_future_open_invitations"},
		{bridge.Lock{ID: 7, Name: " ", Type: 4}, "Nuki lock 7", "Smart Lock 3.0/4th generation", "sensor.nuki_invites_lock_7_open_invitations"},
		{bridge.Lock{ID: 7, Name: "Gate", Type: 4, Keypad: true}, "Gate", "Smart Lock 3.0/4th generation", "sensor.nuki_invites_gate_open_invitations"},
	}
	for _, tt := range tests {
		t.Run(tt.lock.Name, func(t *testing.T) {
			topic, payload := b.lockConfig(tt.lock)
			var cfg struct {
				Dev  map[string]any            `json:"dev"`
				Cmps map[string]map[string]any `json:"cmps"`
			}
			if err := json.Unmarshal(payload, &cfg); err != nil {
				t.Fatal(err)
			}
			mdl, hasModel := cfg.Dev["mdl"]
			if topic != "homeassistant/device/nuki_invites_lock_7/config" || cfg.Dev["name"] != tt.name ||
				(tt.model == "") == hasModel || (hasModel && mdl != tt.model) {
				t.Errorf("%s: name %v, model %v; want %q, %q", topic, cfg.Dev["name"], mdl, tt.name, tt.model)
			}
			c := cfg.Cmps["open_invitations"]
			if c["unique_id"] != "nuki_invites_lock_7_open_invitations" || c["default_entity_id"] != tt.entityID {
				t.Errorf("components %v, want open_invitations with entity id %s", cfg.Cmps, tt.entityID)
			}
			k, hasKeypad := cfg.Cmps["active_keypad_codes"]
			if len(cfg.Cmps) != 1+btoi(tt.lock.Keypad) || hasKeypad != tt.lock.Keypad ||
				hasKeypad && k["unique_id"] != "nuki_invites_lock_7_active_keypad_codes" {
				t.Errorf("components %v; want active_keypad_codes only with a keypad (%t)", cfg.Cmps, tt.lock.Keypad)
			}
		})
	}
}

// TestNukiWebPayload covers every sync status, also those no simulator
// brings about (a held sync, a store error, the first sync running).
func TestNukiWebPayload(t *testing.T) {
	for _, tt := range []struct {
		status bridge.SyncStatus
		want   string // "" tells nothing
	}{
		{bridge.SyncOK, "ON"}, {bridge.SyncRateLimited, "ON"}, {bridge.SyncStoreError, "ON"}, {bridge.SyncHeld, "ON"},
		{bridge.SyncUnreachable, "OFF"}, {bridge.SyncAuthError, "OFF"}, {bridge.SyncRunning, ""},
	} {
		payload, ok := nukiWebPayload(tt.status)
		if string(payload) != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: %q, %t; want %q", tt.status, payload, ok, tt.want)
		}
	}
}

// TestUnmanagedPayload: the list of keypad codes made elsewhere names each
// by lock and name, in a stable order, and never carries a code.
func TestUnmanagedPayload(t *testing.T) {
	locks := lockSet([]bridge.Lock{{ID: 7, Name: "Front door"}, {ID: 3, Name: "Shed"}})
	codes := []bridge.Auth{
		{ID: "b2", SmartlockID: 7, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner", Code: "367249"},
		{ID: "a1", SmartlockID: 7, Type: bridge.AuthTypeKeypadCode, Name: "Alarm company", Code: "419736"},
		{ID: "c3", SmartlockID: 3, Type: bridge.AuthTypeKeypadCode, Name: "Gardener", Code: "583914"},
	}
	want := `[{"auth_id":"c3","smartlock_id":3,"lock":"Shed","name":"Gardener"},` +
		`{"auth_id":"a1","smartlock_id":7,"lock":"Front door","name":"Alarm company"},` +
		`{"auth_id":"b2","smartlock_id":7,"lock":"Front door","name":"Cleaner"}]`
	if got := string(unmanagedPayload(codes, locks)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(unmanagedPayload(nil, locks)); got != "[]" {
		t.Errorf("no codes: %s, want []", got)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
