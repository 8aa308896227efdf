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
