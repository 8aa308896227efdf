package mqtt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// keypadFixture is Gustav's keypad code on the front door, its window open
// since an hour, not used yet.
func keypadFixture(now time.Time) bridge.Invitation {
	return bridge.Invitation{
		ID: bridge.MakeKeypadID(101, 1), Kind: bridge.KindKeypad, SmartlockID: 101, Name: "Gustav",
		Email: "gustav@example.com", LockName: "Front door", Delivery: bridge.DeliveryCustom, HasCode: true,
		Access: bridge.Access{From: now.Add(-time.Hour), Until: now.Add(47 * time.Hour)},
		Send:   1, SentAt: now.Add(-2 * time.Hour), ConfirmedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(47 * time.Hour),
		Status: bridge.StatusActive,
	}
}

// TestKeypadCodeDevice: a keypad code is a device of its own beside the
// invitations, with the keypad statuses, its window, its last use and a
// revoke button, no e-mail or code anywhere; its use goes out as a
// code_used event saying how.
func TestKeypadCodeDevice(t *testing.T) {
	gustav := keypadFixture(t0)
	h := newHarness(t, mqtttest.Broker(t), append(fixture(t0), gustav)...)
	stateTopic := h.topic("invite/101-k1/state")
	w := h.watch(stateTopic, h.topic("event"), h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, h.url, h.prefix+"/#", h.base+"/#")
	for name, topic := range map[string]string{
		"keypad_device": h.discoveryTopic("invite_101_k1"),
		"keypad_state":  stateTopic,
	} {
		payload, ok := retained[topic]
		if !ok {
			t.Fatalf("%s: nothing retained on %s", name, topic)
		}
		if strings.Contains(string(payload), "gustav@example.com") {
			t.Errorf("%s carries the guest's e-mail", name)
		}
		golden(t, name, h.normalize(payload))
	}
	checkDiscovery(t, h, retained, "")
	w.Reset()

	usedAt := t0.Add(-3 * time.Minute)
	gustav.Status, gustav.LastUsedAt = bridge.StatusUsed, usedAt
	use := bridge.LogEntry{ID: "log-9", SmartlockID: 101, AuthID: "auth-9", Name: "Gustav",
		Action: bridge.ActionUnlock, Trigger: bridge.TriggerKeypad, Source: bridge.SourceKeypadCode, Date: usedAt}
	h.svc.mu.Lock()
	h.svc.invs[gustav.ID] = gustav
	h.svc.mu.Unlock()
	h.svc.sub.InvitationEvents([]bridge.Event{{Type: bridge.EventCodeUsed, At: t0, Invitation: gustav, Use: &use}})

	state := decode(t, w.WaitFor(wait, "Gustav's new state", live(stateTopic)).Payload)
	if state["status"] != "used" || state["last_used"] != "2026-03-01T11:57:00Z" || state["kind"] != "keypad" {
		t.Errorf("state = %v, want used at 2026-03-01T11:57:00Z", state)
	}
	ev := decode(t, w.WaitFor(wait, "the code_used event", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("event") && strings.Contains(string(m.Payload), `"event_type":"code_used"`)
	}).Payload)
	want := map[string]any{"event_type": "code_used", "invite_id": "101-k1", "name": "Gustav", "lock": "Front door",
		"at": "2026-03-01T12:00:00Z", "action": "unlock", "trigger": "keypad", "used_at": "2026-03-01T11:57:00Z"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %v, want %v", k, ev[k], v)
		}
	}
}
