package mqtt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
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
			{device: "lock_101", name: "Front door", model: "Smart Lock 3.0/4th generation", via: "bridge", open: 2}, // Alice, Zoë; a keypad, no code
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

	// Alice opens the front door: the lock syncs at once, and the next
	// sync finds she has accepted.
	if _, err := h.sim.Use(101, 201, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	h.sync()
	// The events go out after the states of the same change: once "used"
	// is here, so is everything this sync published before it. (Waiting for
	// a bridge state instead could catch a late one from the start.)
	w.WaitFor(wait, "Alice's used event", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("event") && strings.Contains(string(m.Payload), `"event_type":"used"`)
	})
	alice := w.On(aliceTopic)
	if len(alice) != 1 {
		t.Fatalf("Alice's state was published %d times, want once: %v", len(alice), alice)
	}
	if st := decode(t, alice[0].Payload); st["status"] != "accepted" || st["accepted_signal"] != "lock_count" || st["accepted_at"] != "2026-03-01T12:00:00Z" {
		t.Errorf("state = %s", alice[0].Payload)
	}
	var types []string
	for _, ev := range w.On(h.topic("event")) {
		e := decode(t, ev.Payload)
		types = append(types, fmt.Sprint(e["event_type"]))
		if e["invite_id"] != "101-201" || e["name"] != "Alice" || e["lock"] != "Front door" || e["at"] != "2026-03-01T12:01:00Z" {
			t.Errorf("event = %s", ev.Payload)
		}
	}
	if !slices.Equal(types, []string{"accepted", "used"}) {
		t.Errorf("events %q, want accepted and used", types)
	}
	// Alice's acceptance leaves Zoë open on the front door; the back door
	// keeps its count, so its state is not sent again.
	if front := w.On(h.topic("lock/101/state")); len(front) != 1 || string(front[0].Payload) != `{"open_invitations":1,"active_keypad_codes":0}` {
		t.Errorf("front door states %v, want one with 1 open invitation", front)
	}
	if back := w.On(h.topic("lock/102/state")); len(back) != 0 {
		t.Errorf("back door states %v, want none (its count did not change)", back)
	}

	// Alice's language changes in Nuki Web: the Service tells the bridge
	// Alice changed, but nothing her state shows did, so it is not
	// published again. Dave, renamed in Nuki Web meanwhile, is.
	w.Reset()
	told := &eventLog{}
	defer h.svc.Subscribe(told)()
	updateUser(t, h, 201, map[string]string{"language": "de"})
	updateUser(t, h, 204, map[string]string{"name": "Dave Brown"})
	h.sync()
	w.WaitFor(wait, "Dave's new state", live(daveTopic))
	// Alice's state, had it been published, would go out in the same batch
	// as Dave's; give that batch a moment to arrive whole.
	time.Sleep(200 * time.Millisecond)
	if got := w.On(daveTopic); len(got) != 1 || decode(t, got[0].Payload)["name"] != "Dave Brown" {
		t.Errorf("Dave's states %v, want one naming Dave Brown", got)
	}
	if !slices.Contains(told.about(), "changed 101-201") {
		t.Fatalf("the Service told %q, not that Alice changed, so this test proves nothing", told.about())
	}
	if n := len(w.On(aliceTopic)); n != 0 {
		t.Errorf("Alice's unchanged state was published %d times, want never", n)
	}
	if n := len(w.On(h.topic("event"))); n != 0 {
		t.Errorf("%d events published, want none (changed is not a public event)", n)
	}
}

// TestQueuedEventsPublishTheCurrentState keeps the bridge's loop busy while
// the Service tells it that Dave was renamed, then lets his invitation
// expire, which no event tells until a tick. Once the loop is free, Dave's
// state goes out once, as it is then: Home Assistant never shows the state
// the event carried.
func TestQueuedEventsPublishTheCurrentState(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	dave := h.topic("invite/102-204/state")
	w := h.watch(dave, h.topic("bridge/state"))
	r := h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))

	entered, release := h.svc.holdLoop()
	defer release()
	r.bridge.SyncStateChanged(h.svc.SyncState()) // the loop checks every invitation and waits
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the bridge's loop did not start checking the invitations")
	}
	w.Reset()
	told := &eventLog{}
	defer h.svc.Subscribe(told)()
	updateUser(t, h, 204, map[string]string{"name": "Dave Brown"})
	h.sync()
	if !slices.Contains(told.about(), "changed 102-204") {
		t.Fatalf("the Service told %q, not that Dave changed, so this test proves nothing", told.about())
	}
	h.clock.Advance(6 * time.Hour) // Dave's invitation expired 6 h after t0
	release()

	// The sync's bridge state goes out last.
	w.WaitFor(wait, "the bridge state after the sync", live(h.topic("bridge/state")))
	got := w.On(dave)
	if len(got) != 1 {
		t.Fatalf("Dave's state went out %d times, want once, as it is now: %v", len(got), got)
	}
	if st := decode(t, got[0].Payload); st["status"] != "expired" || st["name"] != "Dave Brown" {
		t.Errorf("Dave's state = %s, want Dave Brown, expired", got[0].Payload)
	}
}

// updateUser changes an account user as Nuki Web's own pages would:
// POST /account/user/{id} on the simulator with the fields given.
func updateUser(t *testing.T, h *harness, id int64, fields map[string]string) {
	t.Helper()
	body, _ := json.Marshal(fields)
	req, err := http.NewRequest(http.MethodPost, h.simURL+"/account/user/"+strconv.FormatInt(id, 10), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+simToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("updating user %d: %s", id, resp.Status)
	}
}

// eventLog is a second subscriber of the Service: it notes what the
// Service told, as "<event type> <invitation id>".
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) InvitationEvents(events []bridge.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range events {
		l.events = append(l.events, string(ev.Type)+" "+string(ev.Invitation.ID))
	}
}

func (l *eventLog) SyncStateChanged(bridge.SyncState) {}

func (l *eventLog) about() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
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

	h.clock.Advance(167*time.Hour - 2*time.Minute)
	h.sync() // Bob accepted 167h59m ago
	w.WaitFor(wait, "a bridge state", live(h.topic("bridge/state")))
	if n := len(w.Messages()); n != 1 {
		t.Errorf("within retention: %d messages, want only the bridge state: %v", n, w.Messages())
	}

	h.sync() // Bob accepted 168h ago
	w.WaitPayload(wait, bobDevice, "")
	w.WaitPayload(wait, bobState, "")
	left := mqtttest.Retained(t, h.url, bobDevice, bobState)
	if len(left) != 0 {
		t.Errorf("still retained after retention: %v", left)
	}
	r.stop() // the store is written once the broker acknowledged
	if _, ok := h.published()[bobDevice]; ok {
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
	if err := h.db.SetPublishedDiscovery(context.Background(), map[string]string{h.discoveryTopic("invite_8_8"): "0123"}, nil); err != nil {
		t.Fatal(err)
	}

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
	stored := h.published()
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
			h.topic("bridge/nuki_web"), h.topic("keypad/unmanaged"), h.topic("availability"), h.topic("bridge/state"))
		w.WaitPayload(wait, h.topic("availability"), "offline")
		w.Reset()
		h.start()
		w.WaitPayload(wait, h.topic("availability"), "online")
		// A sync after start-up changes the bridge state only (its last
		// sync): that marks the point where the start-up publishing is
		// over.
		h.sync()
		w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
		for _, m := range w.Messages() {
			if !m.Retained && m.Topic != h.topic("bridge/state") && m.Topic != h.topic("availability") {
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

	// Alice unlatches the front door with the app; the sync after reads it
	// from the activity log.
	use, err := h.sim.Use(101, 201, bridge.ActionUnlatch)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	h.sync()

	state := decode(t, w.WaitFor(wait, "Alice's new state", live(aliceTopic)).Payload)
	// The lock syncs at once, so Nuki Web's lockCount shows the use too.
	if state["last_used"] != "2026-03-01T12:00:00Z" || state["status"] != "accepted" || state["accepted_signal"] != "lock_count" {
		t.Errorf("state = %v, want accepted (lock_count) and last_used 2026-03-01T12:00:00Z", state)
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
		"event_type": "used", "invite_id": "101-201", "name": "Alice", "lock": "Front door", "at": "2026-03-01T12:03:00Z",
		"action": "unlatch", "trigger": "app", "used_at": "2026-03-01T12:00:00Z",
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
	if strings.Contains(string(events[1].Payload), "@") || use.AuthID == "" || strings.Contains(string(events[1].Payload), use.AuthID) {
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
// published only when that changes. (nukiWebPayload's own test covers the
// statuses a simulator cannot bring about.)
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
		fault  *nukisim.Fault // nil: Nuki Web answers
		status bridge.SyncStatus
		want   string // "" publishes nothing
	}{
		{nil, bridge.SyncOK, ""},
		{&nukisim.Fault{Status: http.StatusBadGateway}, bridge.SyncUnreachable, "OFF"},
		{&nukisim.Fault{Drop: true}, bridge.SyncUnreachable, ""},
		{&nukisim.Fault{Status: http.StatusUnauthorized}, bridge.SyncAuthError, ""},
		{&nukisim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, bridge.SyncRateLimited, "ON"}, // Nuki Web answered, if only to say "later"
		{&nukisim.Fault{Status: http.StatusUnauthorized}, bridge.SyncAuthError, "OFF"},
		{nil, bridge.SyncOK, "ON"},
	} {
		w.Reset()
		h.sim.ClearFaults()
		if step.fault != nil {
			h.sim.InjectFault(*step.fault)
		}
		h.clock.Advance(time.Minute) // a good sync's bridge state marks the end of the batch by its time
		_ = h.svc.Sync(context.Background())
		if got := h.svc.SyncState().Status; got != step.status {
			t.Fatalf("sync %d: %s, want %s", i, got, step.status)
		}
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

// TestLockDevicesFollowTheAccount syncs the Service while the account's
// locks change: each change republishes the affected discovery configs once, an
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

	// sync lists the account's locks as given (renamed, hidden), syncs,
	// and returns what the bridge published.
	syncWith := func(t *testing.T, renamed map[int64]string, hidden ...int64) []mqtttest.Message {
		t.Helper()
		w.Reset()
		h.nuki.set(renamed, hidden...)
		h.sync()
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
		expect(t, "an unchanged sync", published(syncWith(t, nil)))
	})

	renamed := map[int64]string{102: "Garden gate"}
	t.Run("renamed lock", func(t *testing.T) {
		// Dave's authorization is listed, so the sync gives his invitation
		// the lock's new name. Finn's is not listed yet (his lock has not
		// confirmed it): his keeps the old one until it is.
		msgs := syncWith(t, renamed)
		expect(t, "a renamed lock", published(msgs),
			"homeassistant/device/nuki_invites_lock_102/config",
			"homeassistant/device/nuki_invites_invite_102_204/config", "nuki_invites/invite/102-204/state")
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
		expect(t, "the sync after", published(syncWith(t, renamed)))
	})

	t.Run("lock gone", func(t *testing.T) {
		msgs := syncWith(t, renamed, 101)
		// Newest sending first, as the Service lists them: Alice, Zoë, Bob.
		expect(t, "a lock gone", published(msgs),
			"homeassistant/device/nuki_invites_invite_101_201/config",
			"homeassistant/device/nuki_invites_invite_101_205/config",
			"homeassistant/device/nuki_invites_invite_101_202/config",
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
		expect(t, "the sync after", published(syncWith(t, renamed, 101)))
	})

	t.Run("lock added", func(t *testing.T) {
		h.sim.AddLock(bridge.Lock{ID: 104, Name: "Cellar", Type: 2})
		msgs := syncWith(t, renamed, 101)
		expect(t, "a lock added", published(msgs), "homeassistant/device/nuki_invites_lock_104/config", "nuki_invites/lock/104/state")
		for _, m := range msgs {
			if m.Topic == h.discoveryTopic("lock_104") {
				if dev := decode(t, m.Payload)["dev"].(map[string]any); dev["name"] != "Cellar" || dev["mdl"] != "Opener" {
					t.Errorf("the new lock's device: %v, want Cellar, an Opener", dev)
				}
			}
		}
		expect(t, "the sync after", published(syncWith(t, renamed, 101)))
	})

	t.Run("lock added with an invitation", func(t *testing.T) {
		// Gina's app key on a new lock, made in Nuki Web: the lock's
		// device goes out before the invitation's that hangs under it.
		h.sim.AddLock(bridge.Lock{ID: 105, Name: "Shed", Type: 4})
		if _, err := h.sim.AddUser(bridge.User{ID: 207, Name: "Gina", Email: "gina@example.com", Language: "en"}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.sim.AddAuth(bridge.Auth{SmartlockID: 105, AccountUserID: 207, Type: bridge.AuthTypeApp, Name: "Gina", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		expect(t, "a lock added with an invitation", published(syncWith(t, renamed, 101)),
			"homeassistant/device/nuki_invites_lock_105/config", "nuki_invites/lock/105/state",
			"homeassistant/device/nuki_invites_invite_105_207/config", "nuki_invites/invite/105-207/state")
		expect(t, "the sync after", published(syncWith(t, renamed, 101)))
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
