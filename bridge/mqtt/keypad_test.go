package mqtt_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// keypadFixture is Gustav's keypad code on the front door (its code in
// fixtureCodes), its window open since an hour, not used yet.
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
	h := newHarness(t, mqtttest.Broker(t), append(fixture(t0), keypadFixture(t0))...)
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
	for topic, payload := range retained {
		if strings.Contains(string(payload), fixtureCodes["101-k1"].Reveal()) {
			t.Errorf("the keypad code is retained on %s", topic)
		}
	}
	w.Reset()

	// Gustav types his code on the front door's keypad; the next sync
	// reads it from the activity log.
	if _, err := h.sim.EnterCode(101, fixtureCodes["101-k1"].Reveal()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	h.sync()

	state := decode(t, w.WaitFor(wait, "Gustav's new state", live(stateTopic)).Payload)
	if state["status"] != "used" || state["last_used"] != "2026-03-01T12:00:00Z" || state["kind"] != "keypad" {
		t.Errorf("state = %v, want used at 2026-03-01T12:00:00Z", state)
	}
	ev := decode(t, w.WaitFor(wait, "the code_used event", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("event") && strings.Contains(string(m.Payload), `"event_type":"code_used"`)
	}).Payload)
	want := map[string]any{"event_type": "code_used", "invite_id": "101-k1", "name": "Gustav", "lock": "Front door",
		"at": "2026-03-01T12:03:00Z", "action": "unlock", "trigger": "keypad", "used_at": "2026-03-01T12:00:00Z"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %v, want %v", k, ev[k], v)
		}
	}
}

// TestLockCountsInvitationsAndKeypadCodesApart: a lock's Open invitations
// counts app invitations only; a lock with a keypad also shows how many of
// its keypad codes can open it now or later, and only such a lock has that
// entity.
func TestLockCountsInvitationsAndKeypadCodesApart(t *testing.T) {
	scheduled := keypadFixture(t0)
	scheduled.ID, scheduled.Name = bridge.MakeKeypadID(101, 2), "Hanna"
	scheduled.Access = bridge.Access{From: t0.Add(5 * time.Hour), Until: t0.Add(72 * time.Hour)}
	scheduled.ExpiresAt, scheduled.Status = scheduled.Access.Until, bridge.StatusScheduled
	h := newHarness(t, mqtttest.Broker(t), append(fixture(t0), keypadFixture(t0), scheduled)...)
	lockState := h.topic("lock/101/state")
	w := h.watch(lockState, h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, h.url, h.prefix+"/#", h.base+"/#")
	checkDiscovery(t, h, retained, "")

	// Alice and Zoë are open app invitations; Gustav's code is active and
	// Hanna's scheduled.
	if got := string(retained[lockState]); got != `{"open_invitations":2,"active_keypad_codes":2}` {
		t.Errorf("front door state %s, want 2 open invitations and 2 active keypad codes", got)
	}
	entities := func(device string) []string {
		cmps, _ := decode(t, retained[h.discoveryTopic(device)])["cmps"].(map[string]any)
		var out []string
		for key, c := range cmps {
			c := c.(map[string]any)
			out = append(out, fmt.Sprintf("%s %v %v %v", key, c["name"], c["unique_id"], c["default_entity_id"]))
		}
		slices.Sort(out)
		return out
	}
	wantFront := []string{
		"active_keypad_codes Active keypad codes " + h.base + "_lock_101_active_keypad_codes sensor." + h.base + "_front_door_active_keypad_codes",
		"open_invitations Open invitations " + h.base + "_lock_101_open_invitations sensor." + h.base + "_front_door_open_invitations",
	}
	if got := entities("lock_101"); !slices.Equal(got, wantFront) {
		t.Errorf("front door entities\n%q\nwant\n%q", got, wantFront)
	}
	if got := entities("lock_102"); len(got) != 1 || !strings.HasPrefix(got[0], "open_invitations ") {
		t.Errorf("back door (no keypad) entities %q, want Open invitations only", got)
	}

	// Gustav's window ends while Hanna's is open: only hers counts.
	w.Reset()
	h.clock.Advance(47 * time.Hour)
	h.sync()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	if got := w.On(lockState); len(got) == 0 || !strings.HasSuffix(string(got[len(got)-1].Payload), `"active_keypad_codes":1}`) {
		t.Errorf("front door states %v after Gustav's window ended, want 1 active keypad code", got)
	}
}

// TestAdoptKeypadCode: a keypad code made in Nuki Web is listed, retained
// and without its code, on <base>/keypad/unmanaged; keypad/adopt takes it
// on, answered on <base>/result with the new keypad code's id, which then
// has a device of its own while the list no longer names it. Requests that
// cannot be carried out are refused with the reason.
func TestAdoptKeypadCode(t *testing.T) {
	const code = "367249"
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	cleaner, err := h.sim.AddAuth(bridge.Auth{SmartlockID: 101, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner", Enabled: true,
		Code: code, Access: bridge.Access{Until: t0.Add(30 * 24 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	unmanaged := h.topic("keypad/unmanaged")
	w := h.watch(unmanaged, h.topic("result"), h.topic("bridge/state"), h.prefix+"/device/+/config", h.topic("invite/+/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	if got := mqtttest.Retained(t, h.url, unmanaged)[unmanaged]; string(got) != "[]" {
		t.Errorf("before the sync that lists the cleaner's code: %s, want []", got)
	}
	w.Reset()
	h.sync()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	want := `[{"auth_id":"` + cleaner.ID + `","smartlock_id":101,"lock":"Front door","name":"Cleaner"}]`
	if got := mqtttest.Retained(t, h.url, unmanaged)[unmanaged]; string(got) != want {
		t.Fatalf("%s = %s, want %s", unmanaged, got, want)
	}

	adopt := func(requestID, payload string) map[string]any {
		t.Helper()
		w.Reset()
		w.Publish(h.topic("keypad/adopt"), []byte(payload), false)
		res := w.WaitFor(wait, "the result", live(h.topic("result")))
		r := decode(t, res.Payload)
		if r["command"] != "keypad/adopt" || r["request_id"] != requestID {
			t.Errorf("result %s, want command keypad/adopt and request_id %q", res.Payload, requestID)
		}
		return r
	}
	for _, tc := range []struct{ name, requestID, payload, wantError string }{
		{"no payload", "", "", "needs a JSON object with smartlock_id and auth_id"},
		{"pressed", "", "PRESS", "needs a JSON object"},
		{"without auth_id", "a1", `{"request_id":"a1","smartlock_id":101}`, "auth_id is required"},
		{"without smartlock_id", "a2", `{"request_id":"a2","auth_id":"` + cleaner.ID + `"}`, "smartlock_id is required"},
		{"an unknown field", "a3", `{"request_id":"a3","smartlock_id":101,"auth_id":"x","code":"1"}`, `unknown field "code"`},
		{"a lock id as a string", "a4", `{"request_id":"a4","smartlock_id":"101","auth_id":"x"}`, "smartlock_id"},
		{"two objects", "", `{"smartlock_id":101,"auth_id":"x"} {}`, "only one JSON object"},
		{"a long auth_id", "a5", `{"request_id":"a5","smartlock_id":101,"auth_id":"` + strings.Repeat("f", 1000) + `"}`,
			`auth_id "` + strings.Repeat("f", 40) + `"… has 1000 characters; at most 64`},
		{"a long request_id", "", `{"request_id":"` + strings.Repeat("r", 200) + `","smartlock_id":101,"auth_id":"x"}`, "at most 128"},
		{"on the wrong lock", "a6", `{"request_id":"a6","smartlock_id":102,"auth_id":"` + cleaner.ID + `"}`, "not found"},
		{"an unknown code", "a7", `{"request_id":"a7","smartlock_id":101,"auth_id":"000000000000000000000000"}`, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := adopt(tc.requestID, tc.payload)
			if errText, _ := r["error"].(string); r["ok"] != false || !strings.Contains(errText, tc.wantError) || len(errText) > 1000 {
				t.Errorf("result %v, want refused with %q", r, tc.wantError)
			}
		})
	}
	if calls := h.svc.Calls(); len(calls) != 2 {
		t.Errorf("service calls %q, want only the two that were well-formed", calls)
	}

	r := adopt("ok", `{"request_id":"ok","smartlock_id":101,"auth_id":"`+cleaner.ID+`"}`)
	if r["ok"] != true || r["invite_id"] != "101-k1" {
		t.Fatalf("adopting the cleaner's code: %v, want ok as 101-k1", r)
	}
	w.WaitPayload(wait, unmanaged, "[]")
	w.WaitFor(wait, "the adopted code's device", live(h.discoveryTopic("invite_101_k1")))
	state := decode(t, w.WaitFor(wait, "the adopted code's state", live(h.topic("invite/101-k1/state"))).Payload)
	if state["kind"] != "keypad" || state["status"] != "active" || state["name"] != "Cleaner" || state["window_end"] != "2026-03-31T12:00:00Z" {
		t.Errorf("the adopted code's state: %v", state)
	}
	if inv := h.invitation("101-k1"); inv.History[0].Actor != "mqtt" {
		t.Errorf("the adopted code's history starts with %+v, want it taken on by mqtt", inv.History[0])
	}
	for topic, payload := range mqtttest.Retained(t, h.url, h.base+"/#", h.prefix+"/#") {
		if strings.Contains(string(payload), code) {
			t.Errorf("the cleaner's code is retained on %s", topic)
		}
	}
	if strings.Contains(h.logs.String(), code) {
		t.Error("the cleaner's code is in the log")
	}
}
