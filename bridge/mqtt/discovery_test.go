package mqtt_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

func TestDiscoveryAndStates(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, h.url, h.prefix+"/#", h.base+"/#")

	t.Run("golden", func(t *testing.T) {
		for name, topic := range map[string]string{
			"bridge_device": h.discoveryTopic("bridge"),
			"lock_device":   h.discoveryTopic("lock_101"),
			"lock_state":    h.topic("lock/101/state"),
			"invite_device": h.discoveryTopic("invite_101_201"),
			"invite_state":  h.topic("invite/101-201/state"),
			"bridge_state":  h.topic("bridge/state"),
			// Finn's sending is not confirmed yet: no expiry.
			"invite_state_sending": h.topic("invite/102-206/state"),
		} {
			payload, ok := retained[topic]
			if !ok {
				t.Errorf("%s: nothing retained on %s", name, topic)
				continue
			}
			golden(t, name, h.normalize(payload))
		}
	})

	t.Run("devices", func(t *testing.T) {
		var devices []string
		for topic := range retained {
			if strings.HasPrefix(topic, h.prefix+"/device/") {
				devices = append(devices, h.normalize([]byte(topic)))
			}
		}
		slices.Sort(devices)
		want := []string{
			"homeassistant/device/nuki_invites_bridge/config",
			"homeassistant/device/nuki_invites_invite_101_201/config", // Alice, pending
			"homeassistant/device/nuki_invites_invite_101_202/config", // Bob, accepted 1h ago
			"homeassistant/device/nuki_invites_invite_101_205/config", // Zoë, failed
			"homeassistant/device/nuki_invites_invite_102_204/config", // Dave, expiring soon
			"homeassistant/device/nuki_invites_invite_102_206/config", // Finn, sending
			"homeassistant/device/nuki_invites_lock_101/config",       // Front door
			"homeassistant/device/nuki_invites_lock_102/config",       // Back door
			"homeassistant/device/nuki_invites_lock_103/config",       // Garage, no invitation
		}
		if !slices.Equal(devices, want) {
			t.Errorf("devices = %q\nwant %q (every lock; Carol, revoked 10 days ago, is past retention)", devices, want)
		}
		if _, ok := retained[h.topic("invite/102-203/state")]; ok {
			t.Errorf("Carol's state is retained although she is past retention")
		}
	})

	t.Run("rules", func(t *testing.T) { checkDiscovery(t, h, retained, "") })

	t.Run("bridge, locks, invitations", func(t *testing.T) {
		for _, tc := range []struct {
			device, name, model, via string
			open                     float64 // the lock's open invitations
		}{
			{device: "lock_101", name: "Front door", model: "Smart Lock 3.0/4th generation", via: "bridge", open: 2}, // Alice, Zoë
			{device: "lock_102", name: "Back door", model: "Smart Lock 1.0/2.0", via: "bridge", open: 2},             // Dave, Finn
			{device: "lock_103", name: "Garage", model: "", via: "bridge", open: 0},
			{device: "invite_101_201", name: "Nuki invite: Alice · Front door", model: "App invitation", via: "lock_101"},
			{device: "invite_101_202", name: "Nuki invite: Bob · Front door", model: "App invitation", via: "lock_101"},
			{device: "invite_102_204", name: "Nuki invite: Dave · Back door", model: "App invitation", via: "lock_102"},
		} {
			dev, _ := decode(t, retained[h.discoveryTopic(tc.device)])["dev"].(map[string]any)
			mdl, _ := dev["mdl"].(string)
			if dev["name"] != tc.name || mdl != tc.model || dev["via_device"] != h.base+"_"+tc.via {
				t.Errorf("%s: name %v, model %q, via %v; want %q, %q under %s", tc.device, dev["name"], mdl, dev["via_device"], tc.name, tc.model, tc.via)
			}
			if strings.HasPrefix(tc.device, "lock_") {
				id := strings.TrimPrefix(tc.device, "lock_")
				if st := decode(t, retained[h.topic("lock/"+id+"/state")]); st["open_invitations"] != tc.open {
					t.Errorf("%s: state %v, want %v open invitations", tc.device, st, tc.open)
				}
				if _, ok := dev["sw"]; ok {
					t.Errorf("%s: the lock's device shows a software version (ours, not the lock's): %v", tc.device, dev["sw"])
				}
			}
		}
	})

	t.Run("Nuki Web reachable", func(t *testing.T) {
		if got := string(retained[h.topic("bridge/nuki_web")]); got != "ON" {
			t.Errorf("Nuki Web state %q after a sync that reached it, want ON", got)
		}
	})

	t.Run("no email in states", func(t *testing.T) {
		for topic, payload := range retained {
			if strings.Contains(string(payload), "@example.com") {
				t.Errorf("%s carries an email address: %s", topic, payload)
			}
		}
	})
}

var simpleTemplate = regexp.MustCompile(`^\{\{ value_json\.([a-z_]+) \}\}$`)

// checkDiscovery checks every discovery message against Home Assistant's
// rules, reading each entity's value from the retained state it points to:
// every device links to cu ("" none) and hangs under a device that is there.
func checkDiscovery(t *testing.T, h *harness, retained map[string][]byte, cu string) {
	t.Helper()
	uniqueIDs := map[string]string{}
	deviceIDs := map[string]bool{}
	vias := map[string]string{}
	devices := 0
	for topic, payload := range retained {
		if !strings.HasPrefix(topic, h.prefix+"/device/") {
			continue
		}
		devices++
		where := h.normalize([]byte(topic))
		if strings.Contains(string(payload), `"object_id"`) {
			t.Errorf("%s: has object_id (deprecated; use default_entity_id)", where)
		}
		cfg := decode(t, payload)
		dev, _ := cfg["dev"].(map[string]any)
		required := []string{"ids", "name", "mf", "mdl", "sw"}
		if strings.Contains(where, "_lock_") {
			required = []string{"ids", "name", "mf"} // a lock's model where known, never our version
		}
		for _, k := range required {
			if dev[k] == nil || dev[k] == "" {
				t.Errorf("%s: dev.%s missing", where, k)
			}
		}
		if got, _ := dev["cu"].(string); got != cu {
			t.Errorf("%s: dev.cu = %q, want %q", where, got, cu)
		}
		if ids, _ := dev["ids"].([]any); len(ids) == 1 {
			deviceIDs[fmt.Sprint(ids[0])] = true
		}
		if via, ok := dev["via_device"]; ok {
			vias[where] = fmt.Sprint(via)
		}
		o, _ := cfg["o"].(map[string]any)
		for _, k := range []string{"name", "sw", "url"} {
			if o[k] == nil || o[k] == "" {
				t.Errorf("%s: o.%s missing", where, k)
			}
		}
		avty, _ := cfg["avty"].([]any)
		if len(avty) != 1 || avty[0].(map[string]any)["t"] != h.topic("availability") {
			t.Errorf("%s: avty = %v, want the availability topic", where, cfg["avty"])
		}
		cmps, _ := cfg["cmps"].(map[string]any)
		if len(cmps) == 0 {
			t.Errorf("%s: no components", where)
		}
		for key, raw := range cmps {
			c := raw.(map[string]any)
			name := where + " " + key
			p, _ := c["p"].(string)
			uid, _ := c["unique_id"].(string)
			if uid == "" {
				t.Errorf("%s: no unique_id", name)
			} else if other, dup := uniqueIDs[uid]; dup {
				t.Errorf("%s: unique_id %s also used by %s", name, uid, other)
			}
			uniqueIDs[uid] = name
			if id, _ := c["default_entity_id"].(string); !strings.HasPrefix(id, p+".") || len(id) <= len(p)+1 {
				t.Errorf("%s: default_entity_id %q does not start with its platform %q", name, id, p)
			}
			switch p {
			case "sensor":
				checkSensor(t, name, c, retained)
			case "binary_sensor":
				if c["entity_category"] != "diagnostic" || c["device_class"] != "connectivity" {
					t.Errorf("%s: binary_sensor %v/%v, want a diagnostic connectivity sensor", name, c["entity_category"], c["device_class"])
				}
				topic, _ := c["state_topic"].(string)
				if st := string(retained[topic]); st != "ON" && st != "OFF" {
					t.Errorf("%s: state %q on %s, want ON or OFF", name, st, topic)
				}
			case "button":
				if c["command_topic"] == nil || c["payload_press"] == nil {
					t.Errorf("%s: button without command_topic or payload_press", name)
				}
			case "event":
				types := fmt.Sprint(c["event_types"])
				if want := fmt.Sprint(slices.Concat(bridge.PublicEventTypes, bridge.KeypadEventTypes, []bridge.EventType{"command_refused"})); types != want || c["state_topic"] != h.topic("event") {
					t.Errorf("%s: event_types %s state_topic %v, want %s on the event topic", name, types, c["state_topic"], want)
				}
			default:
				t.Errorf("%s: unexpected platform %q", name, p)
			}
		}
	}
	if devices == 0 {
		t.Fatal("no discovery messages retained")
	}
	for where, via := range vias {
		if !deviceIDs[via] {
			t.Errorf("%s: via_device %s is no device that is there", where, via)
		}
	}
}

func checkSensor(t *testing.T, name string, c map[string]any, retained map[string][]byte) {
	t.Helper()
	if cat, ok := c["entity_category"]; ok && cat != "diagnostic" {
		t.Errorf("%s: sensor entity_category %v; sensors allow only diagnostic", name, cat)
	}
	stateTopic, _ := c["state_topic"].(string)
	state, ok := retained[stateTopic]
	if !ok {
		t.Errorf("%s: nothing retained on its state topic %s", name, stateTopic)
		return
	}
	m := simpleTemplate.FindStringSubmatch(fmt.Sprint(c["value_template"]))
	if m == nil {
		t.Errorf("%s: value_template %v is not {{ value_json.<key> }}", name, c["value_template"])
		return
	}
	value, present := decode(t, state)[m[1]]
	if !present {
		t.Errorf("%s: the state has no key %q: %s", name, m[1], state)
		return
	}
	switch c["device_class"] {
	case "enum":
		opts, _ := c["options"].([]any)
		if len(opts) == 0 || !slices.Contains(opts, value) {
			t.Errorf("%s: enum value %v not among options %v", name, value, opts)
		}
	case "timestamp":
		if value == nil {
			return
		}
		s, _ := value.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s: timestamp %v is not RFC 3339 with a zone", name, value)
		}
	default:
		if _, ok := value.(float64); !ok {
			t.Errorf("%s: value %v is not a number", name, value)
		}
	}
}

func TestStateChangePublishedOnlyWhenChanged(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	aliceTopic := h.topic("invite/101-201/state")
	daveTopic := h.topic("invite/102-204/state")
	w := h.watch(h.topic("invite/+/state"), h.topic("lock/+/state"), h.topic("event"), h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	w.Reset()

	alice := h.svc.get("101-201")
	alice.Status, alice.AcceptedAt, alice.AcceptedSignal = bridge.StatusAccepted, t0, bridge.SignalLastActive
	accepted := bridge.Event{Type: bridge.EventAccepted, At: t0, Invitation: alice}
	h.svc.mu.Lock()
	h.svc.invs[alice.ID] = alice
	h.svc.mu.Unlock()

	h.svc.sub.InvitationEvents([]bridge.Event{accepted})
	got := w.WaitFor(wait, "Alice's new state", live(aliceTopic))
	if st := decode(t, got.Payload); st["status"] != "accepted" || st["accepted_signal"] != "last_active" || st["accepted_at"] != "2026-03-01T12:00:00Z" {
		t.Errorf("state = %s", got.Payload)
	}
	ev := w.WaitFor(wait, "the accepted event", live(h.topic("event")))
	if e := decode(t, ev.Payload); e["event_type"] != "accepted" || e["invite_id"] != "101-201" || e["name"] != "Alice" ||
		e["lock"] != "Front door" || e["at"] != "2026-03-01T12:00:00Z" {
		t.Errorf("event = %s", ev.Payload)
	}

	// The same state again publishes nothing; a change to Dave afterwards
	// shows the loop went past it.
	h.svc.sub.InvitationEvents([]bridge.Event{{Type: bridge.EventChanged, At: t0, Invitation: alice}})
	dave := h.svc.get("102-204")
	dave.LastError = "marker"
	h.svc.sub.InvitationEvents([]bridge.Event{{Type: bridge.EventChanged, At: t0, Invitation: dave}})
	w.WaitFor(wait, "Dave's new state", live(daveTopic))
	if n := len(w.On(aliceTopic)); n != 1 {
		t.Errorf("Alice's state was published %d times, want once", n)
	}
	if n := len(w.On(h.topic("event"))); n != 1 {
		t.Errorf("%d events published, want 1 (changed is not a public event)", n)
	}
	// Alice's acceptance leaves Zoë open on the front door; the back door
	// keeps its count, so its state is not sent again.
	if front := w.On(h.topic("lock/101/state")); len(front) != 1 || string(front[0].Payload) != `{"open_invitations":1}` {
		t.Errorf("front door states %v, want one with 1 open invitation", front)
	}
	if back := w.On(h.topic("lock/102/state")); len(back) != 0 {
		t.Errorf("back door states %v, want none (its count did not change)", back)
	}
}

func TestRetentionClearsDiscoveryAndState(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	bobDevice := h.discoveryTopic("invite_101_202")
	bobState := h.topic("invite/101-202/state")
	w := h.watch(bobDevice, bobState, h.topic("bridge/state"))
	r := h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	if len(w.On(bobDevice)) == 0 || len(w.On(bobState)) == 0 {
		t.Fatalf("Bob (accepted 1h ago) is not published:\n%v", w.Messages())
	}
	w.Reset()

	h.clock.Advance(167*time.Hour - time.Minute)
	h.svc.mu.Lock()
	h.svc.state.LastError = "first" // a changed bridge state marks the end of the batch
	h.svc.mu.Unlock()
	h.svc.sub.SyncStateChanged(h.svc.SyncState())
	w.WaitFor(wait, "a bridge state", live(h.topic("bridge/state")))
	if n := len(w.Messages()); n != 1 {
		t.Errorf("within retention: %d messages, want only the bridge state: %v", n, w.Messages())
	}

	h.clock.Advance(2 * time.Minute) // Bob accepted 168h01m ago
	h.svc.mu.Lock()
	h.svc.state.LastError = "second"
	h.svc.mu.Unlock()
	h.svc.sub.SyncStateChanged(h.svc.SyncState())
	w.WaitPayload(wait, bobDevice, "")
	w.WaitPayload(wait, bobState, "")
	left := mqtttest.Retained(t, h.url, bobDevice, bobState)
	if len(left) != 0 {
		t.Errorf("still retained after retention: %v", left)
	}
	r.stop() // the store is written once the broker acknowledged
	if _, ok := h.store.Topics()[bobDevice]; ok {
		t.Errorf("the store still lists %s", bobDevice)
	}
}

func TestStartupClearsStaleRetainedMessages(t *testing.T) {
	url := mqtttest.Broker(t)
	h := newHarness(t, url, fixture(t0)...)
	seed := h.watch()
	stale := map[string]string{
		h.discoveryTopic("invite_9_9"): `{"dev":{"ids":["stale"]}}`, // ours, found on the broker
		h.discoveryTopic("invite_8_8"): `{"dev":{"ids":["stale"]}}`, // ours, known from the store
		h.topic("invite/9-9/state"):    `{"status":"pending"}`,
		h.discoveryTopic("lock_7"):     `{"dev":{"ids":["stale"]}}`, // a lock the account no longer has
		h.topic("lock/7/state"):        `{"open_invitations":1}`,
	}
	foreign := map[string]string{
		h.prefix + "/device/someone_else/config":            `{"dev":{"ids":["x"]}}`,
		h.prefix + "/device/" + h.base + "_2_bridge/config": `{"dev":{"ids":["y"]}}`,
	}
	for topic, payload := range stale {
		seed.Publish(topic, []byte(payload), true)
	}
	for topic, payload := range foreign {
		seed.Publish(topic, []byte(payload), true)
		t.Cleanup(func() { seed.Publish(topic, nil, true) })
	}
	h.store.topics[h.discoveryTopic("invite_8_8")] = "0123"

	w := h.watch(h.topic("bridge/state"))
	first := h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, url, h.prefix+"/#", h.base+"/#")
	for topic := range stale {
		if _, ok := retained[topic]; ok {
			t.Errorf("stale %s is still retained", h.normalize([]byte(topic)))
		}
	}
	for topic := range foreign {
		if _, ok := retained[topic]; !ok {
			t.Errorf("%s is not ours but was cleared", topic)
		}
	}
	first.stop() // the store is written once the broker acknowledged
	stored := h.store.Topics()
	for topic := range retained {
		if strings.HasPrefix(topic, h.prefix+"/device/"+h.base+"_invite_") || strings.HasPrefix(topic, h.prefix+"/device/"+h.base+"_lock_") ||
			topic == h.discoveryTopic("bridge") {
			if stored[topic] == "" {
				t.Errorf("published %s is not in the store", h.normalize([]byte(topic)))
			}
		}
	}
	if len(stored) != 9 {
		t.Errorf("store lists %d topics, want 9 (bridge + 3 locks + 5 visible invitations): %v", len(stored), stored)
	}

	t.Run("unchanged configs are not republished", func(t *testing.T) {
		w := h.watch(h.prefix+"/device/+/config", h.topic("invite/+/state"), h.topic("lock/+/state"),
			h.topic("bridge/nuki_web"), h.topic("availability"))
		w.WaitPayload(wait, h.topic("availability"), "offline")
		w.Reset()
		h.start()
		w.WaitPayload(wait, h.topic("availability"), "online")
		// A change after start-up marks the point where the start-up
		// publishing is over.
		zoe := h.svc.get("101-205")
		zoe.LastError = "marker"
		h.svc.sub.InvitationEvents([]bridge.Event{{Type: bridge.EventChanged, At: t0, Invitation: zoe}})
		w.WaitFor(wait, "Zoë's state", live(h.topic("invite/101-205/state")))
		for _, m := range w.Messages() {
			if !m.Retained && m.Topic != h.topic("invite/101-205/state") && m.Topic != h.topic("availability") {
				t.Errorf("republished unchanged %s", h.normalize([]byte(m.Topic)))
			}
		}
	})
}

func TestHomeAssistantBirthRepublishes(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.prefix+"/device/+/config", h.topic("bridge/state"), h.topic("availability"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	w.Reset()

	w.Publish(h.prefix+"/status", []byte("online"), false)
	for _, device := range []string{"bridge", "invite_101_201", "invite_102_204"} {
		w.WaitFor(wait, device+" discovery again", live(h.discoveryTopic(device)))
	}
	w.WaitFor(wait, "the bridge state again", live(h.topic("bridge/state")))
	w.WaitPayload(wait, h.topic("availability"), "online")
}

// TestUsedEvent: a guest's use of the lock updates the invitation's
// last_used, which the Last used entity reads, and goes out as a used event
// saying how, with no email.
func TestUsedEvent(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	aliceTopic := h.topic("invite/101-201/state")
	w := h.watch(aliceTopic, h.topic("event"), h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	w.Reset()

	usedAt := t0.Add(-3 * time.Minute)
	alice := h.svc.get("101-201")
	alice.Status, alice.AcceptedAt, alice.AcceptedSignal = bridge.StatusAccepted, usedAt, bridge.SignalActivityLog
	alice.LastUsedAt = usedAt
	use := bridge.LogEntry{ID: "log-1", SmartlockID: 101, AccountUserID: 201, AuthID: "auth-1", Name: "Alice",
		Action: bridge.ActionUnlatch, Trigger: bridge.TriggerApp, Date: usedAt}
	h.svc.mu.Lock()
	h.svc.invs[alice.ID] = alice
	h.svc.mu.Unlock()
	h.svc.sub.InvitationEvents([]bridge.Event{
		{Type: bridge.EventAccepted, At: t0, Invitation: alice},
		{Type: bridge.EventUsed, At: t0, Invitation: alice, Use: &use, Detail: "unlatch by app at 2026-03-01T11:57:00Z"},
	})

	state := decode(t, w.WaitFor(wait, "Alice's new state", live(aliceTopic)).Payload)
	if state["last_used"] != "2026-03-01T11:57:00Z" || state["accepted_signal"] != "activity_log" {
		t.Errorf("state = %v, want last_used 2026-03-01T11:57:00Z and accepted_signal activity_log", state)
	}
	w.WaitFor(wait, "the used event", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("event") && strings.Contains(string(m.Payload), `"event_type":"used"`)
	})
	events := w.On(h.topic("event"))
	if len(events) != 2 {
		t.Fatalf("%d events, want accepted and used: %v", len(events), events)
	}
	if got := decode(t, events[0].Payload)["event_type"]; got != "accepted" {
		t.Errorf("first event %v, want accepted", got)
	}
	used := decode(t, events[1].Payload)
	want := map[string]any{
		"event_type": "used", "invite_id": "101-201", "name": "Alice", "lock": "Front door", "at": "2026-03-01T12:00:00Z",
		"action": "unlatch", "trigger": "app", "used_at": "2026-03-01T11:57:00Z",
	}
	if len(used) != len(want) {
		t.Errorf("used event has %d fields, want %d: %s", len(used), len(want), events[1].Payload)
	}
	for k, v := range want {
		if used[k] != v {
			t.Errorf("used event %s = %v, want %v", k, used[k], v)
		}
	}
	if events[1].Retained {
		t.Error("the used event is retained")
	}
	if strings.Contains(string(events[1].Payload), "@") || strings.Contains(string(events[1].Payload), "auth-1") {
		t.Errorf("the used event carries more than it should: %s", events[1].Payload)
	}
}

// TestConfigurationURL: with a configuration URL every device links to it,
// so Home Assistant offers the add-on's page on the bridge, lock and
// invitation devices alike.
func TestConfigurationURL(t *testing.T) {
	const cu = "homeassistant://hassio/ingress/a0d7b954_nuki_invites"
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("bridge/state"))
	h.start(func(o *mqtt.Options) { o.ConfigurationURL = cu })
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, h.url, h.prefix+"/#", h.base+"/#")
	checkDiscovery(t, h, retained, cu)
	devices := map[string]any{}
	for name, device := range map[string]string{"bridge": "bridge", "lock": "lock_101", "invite": "invite_101_201"} {
		devices[name] = decode(t, retained[h.discoveryTopic(device)])["dev"]
	}
	payload, err := json.Marshal(devices)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "devices_configuration_url", h.normalize(payload))
}

// TestNukiWebReachable: the Nuki Web entity is on while syncs reach Nuki
// Web, off while it is unreachable or refuses the token, and its state is
// published only when that changes.
func TestNukiWebReachable(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	topic := h.topic("bridge/nuki_web")
	w := h.watch(topic, h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	if got := w.On(topic); len(got) != 1 || string(got[0].Payload) != "ON" {
		t.Fatalf("at start after a good sync: %v, want ON once", got)
	}
	state := "ON"
	for i, step := range []struct {
		status bridge.SyncStatus
		want   string // "" publishes nothing
	}{
		{bridge.SyncOK, ""},
		{bridge.SyncUnreachable, "OFF"},
		{bridge.SyncUnreachable, ""},
		{bridge.SyncAuthError, ""},
		{bridge.SyncRateLimited, "ON"}, // Nuki Web answered, if only to say "later"
		{bridge.SyncHeld, ""},
		{bridge.SyncAuthError, "OFF"},
		{bridge.SyncRunning, ""}, // no sync has finished yet: nothing new to tell
		{bridge.SyncStoreError, "ON"},
	} {
		w.Reset()
		h.svc.mu.Lock()
		h.svc.state.Status = step.status
		h.svc.state.LastError = fmt.Sprintf("sync %d", i) // a new bridge state marks the end of the batch
		h.svc.mu.Unlock()
		h.svc.sub.SyncStateChanged(h.svc.SyncState())
		w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
		got := w.On(topic)
		switch {
		case step.want == "" && len(got) != 0:
			t.Errorf("sync %d (%s): published %v, want nothing (still %s)", i, step.status, got, state)
		case step.want != "" && (len(got) != 1 || string(got[0].Payload) != step.want):
			t.Errorf("sync %d (%s): published %v, want %s once", i, step.status, got, step.want)
		}
		if step.want != "" {
			state = step.want
		}
		if held := string(mqtttest.Retained(t, h.url, topic)[topic]); held != state {
			t.Errorf("sync %d (%s): the broker holds %q, want %q", i, step.status, held, state)
		}
	}
}

// TestLockDevicesFollowTheAccount syncs as the Service does (the changed
// invitations' events, then the sync state) while the account's locks
// change: each change republishes the affected discovery configs once, an
// unchanged sync none, and unique ids never change.
func TestLockDevicesFollowTheAccount(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.prefix+"/device/+/config", h.topic("lock/+/state"), h.topic("invite/+/state"), h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	uniqueIDs := func() map[string][]string {
		ids := map[string][]string{}
		for topic, payload := range mqtttest.Retained(t, h.url, h.prefix+"/#") {
			cmps, _ := decode(t, payload)["cmps"].(map[string]any)
			for _, c := range cmps {
				ids[topic] = append(ids[topic], fmt.Sprint(c.(map[string]any)["unique_id"]))
			}
			slices.Sort(ids[topic])
		}
		return ids
	}
	before := uniqueIDs()

	syncs := 0
	// sync gives the fake the account's locks and the invitations changed
	// by the sync, tells the bridge, and returns what it published.
	sync := func(t *testing.T, locks []bridge.Lock, changed ...bridge.Invitation) []mqtttest.Message {
		t.Helper()
		w.Reset()
		syncs++
		h.svc.setLocks(locks...)
		var events []bridge.Event
		for _, inv := range changed {
			h.svc.put(inv)
			events = append(events, bridge.Event{Type: bridge.EventChanged, At: t0, Invitation: inv})
		}
		if len(events) > 0 {
			h.svc.sub.InvitationEvents(events)
		}
		h.svc.mu.Lock()
		h.svc.state.LastSync = t0.Add(time.Duration(syncs) * time.Minute)
		h.svc.mu.Unlock()
		h.svc.sub.SyncStateChanged(h.svc.SyncState())
		w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
		return w.Messages()
	}
	// published lists the topics of the messages, normalised, but for the
	// bridge state that ends every batch.
	published := func(msgs []mqtttest.Message) []string {
		var out []string
		for _, m := range msgs {
			if m.Topic != h.topic("bridge/state") {
				out = append(out, h.normalize([]byte(m.Topic)))
			}
		}
		return out
	}
	expect := func(t *testing.T, what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s published\n%q\nwant\n%q", what, got, want)
		}
	}

	t.Run("unchanged", func(t *testing.T) {
		expect(t, "an unchanged sync", published(sync(t, fixtureLocks())))
	})

	renamed := []bridge.Lock{{ID: 102, Name: "Garden gate", Type: 0}, {ID: 101, Name: "Front door", Type: 4}, {ID: 103, Name: "Garage", Type: 9}}
	t.Run("renamed lock", func(t *testing.T) {
		var changed []bridge.Invitation
		for _, inv := range fixture(t0) {
			if inv.SmartlockID == 102 {
				inv.LockName = "Garden gate"
				changed = append(changed, inv)
			}
		}
		msgs := sync(t, renamed, changed...)
		expect(t, "a renamed lock", published(msgs),
			"homeassistant/device/nuki_invites_lock_102/config",
			"homeassistant/device/nuki_invites_invite_102_204/config", "nuki_invites/invite/102-204/state",
			"homeassistant/device/nuki_invites_invite_102_206/config", "nuki_invites/invite/102-206/state")
		// Carol, past retention, stays away.
		for _, m := range msgs {
			switch m.Topic {
			case h.discoveryTopic("lock_102"):
				if dev := decode(t, m.Payload)["dev"].(map[string]any); dev["name"] != "Garden gate" {
					t.Errorf("the lock's device is named %v, want Garden gate", dev["name"])
				}
			case h.discoveryTopic("invite_102_204"):
				if dev := decode(t, m.Payload)["dev"].(map[string]any); dev["name"] != "Nuki invite: Dave · Garden gate" {
					t.Errorf("Dave's device is named %v", dev["name"])
				}
			}
		}
		expect(t, "the sync after", published(sync(t, renamed)))
	})

	t.Run("lock gone", func(t *testing.T) {
		left := []bridge.Lock{renamed[0], renamed[2]}
		msgs := sync(t, left)
		expect(t, "a lock gone", published(msgs),
			"homeassistant/device/nuki_invites_invite_101_201/config",
			"homeassistant/device/nuki_invites_invite_101_202/config",
			"homeassistant/device/nuki_invites_invite_101_205/config",
			"homeassistant/device/nuki_invites_lock_101/config",
			"nuki_invites/lock/101/state")
		for _, m := range msgs {
			switch {
			case m.Topic == h.discoveryTopic("lock_101") || m.Topic == h.topic("lock/101/state"):
				if len(m.Payload) != 0 {
					t.Errorf("%s = %s, want it cleared", h.normalize([]byte(m.Topic)), m.Payload)
				}
			case strings.HasPrefix(m.Topic, h.prefix+"/device/"):
				if dev := decode(t, m.Payload)["dev"].(map[string]any); dev["via_device"] != h.base+"_bridge" {
					t.Errorf("%s hangs under %v, want the bridge now that its lock is gone", h.normalize([]byte(m.Topic)), dev["via_device"])
				}
			}
		}
		expect(t, "the sync after", published(sync(t, left)))
	})

	t.Run("lock added", func(t *testing.T) {
		locks := []bridge.Lock{renamed[0], renamed[2], {ID: 104, Name: "Cellar", Type: 2}}
		msgs := sync(t, locks)
		expect(t, "a lock added", published(msgs), "homeassistant/device/nuki_invites_lock_104/config", "nuki_invites/lock/104/state")
		for _, m := range msgs {
			if m.Topic == h.discoveryTopic("lock_104") {
				if dev := decode(t, m.Payload)["dev"].(map[string]any); dev["name"] != "Cellar" || dev["mdl"] != "Opener" {
					t.Errorf("the new lock's device: %v, want Cellar, an Opener", dev)
				}
			}
		}
		expect(t, "the sync after", published(sync(t, locks)))
	})

	t.Run("lock added with an invitation", func(t *testing.T) {
		// The lock's device goes out before the invitation's that hangs
		// under it.
		locks := []bridge.Lock{renamed[0], renamed[2], {ID: 104, Name: "Cellar", Type: 2}, {ID: 105, Name: "Shed", Type: 4}}
		gina := bridge.Invitation{ID: bridge.MakeInviteID(105, 207), SmartlockID: 105, AccountUserID: 207, Name: "Gina",
			LockName: "Shed", Send: 1, SentAt: t0, ConfirmedAt: t0, ExpiresAt: t0.Add(48 * time.Hour), Status: bridge.StatusPending}
		expect(t, "a lock added with an invitation", published(sync(t, locks, gina)),
			"homeassistant/device/nuki_invites_lock_105/config", "nuki_invites/lock/105/state",
			"homeassistant/device/nuki_invites_invite_105_207/config", "nuki_invites/invite/105-207/state")
		expect(t, "the sync after", published(sync(t, locks)))
	})

	t.Run("unique ids stay", func(t *testing.T) {
		after := uniqueIDs()
		for topic, ids := range before {
			if got, ok := after[topic]; ok && !slices.Equal(got, ids) {
				t.Errorf("%s: unique ids %q, were %q", h.normalize([]byte(topic)), got, ids)
			}
		}
		retained := mqtttest.Retained(t, h.url, h.prefix+"/#", h.base+"/#")
		checkDiscovery(t, h, retained, "")
	})
}
