package blueprints_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

const wait = 15 * time.Second

// daemon is the core wired as the daemon wires it, without the page and the
// e-mails: the Service on a bbolt file, the Nuki Web client against the
// simulator, the MQTT bridge on a real broker under a base topic of its own.
// Syncs and scheduler runs happen when the test calls them.
type daemon struct {
	t     *testing.T
	clock *bridgetest.Clock
	sim   *nukisim.Sim
	svc   *bridge.Service
	base  string
	mqtt  *mqtttest.Client
	locks []bridge.Lock
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	const token = "roundtrip-nuki-token-5d1e"
	clock := bridgetest.NewClock(time.Date(2026, 4, 27, 9, 0, 0, 0, time.UTC))
	logs := &bridgetest.Logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	logger := logs.Logger()

	sim := nukisim.New(nukisim.Options{Token: bridge.Secret(token), Now: clock.Now, Logger: logger})
	locks := []bridge.Lock{sim.AddLock(bridge.Lock{Name: "Front door", Type: 4}), sim.AddLock(bridge.Lock{Name: "Garage", Type: 4})}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)

	store, err := bolt.Open(filepath.Join(t.TempDir(), "nuki-invites.db"), bolt.Options{Logger: logger, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	nuki := nukiweb.New(srv.URL, bridge.Secret(token), nukiweb.Options{Logger: logger, Now: clock.Now})
	svc := bridge.NewService(store, nuki, nil, bridge.Options{
		Validity: 48 * time.Hour, ReminderBefore: 12 * time.Hour, ResendCooldown: 10 * time.Minute,
		ConfirmTimeout: time.Hour, AutoResendMax: 2, Now: clock.Now, Logger: logger,
	})
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}

	broker := mqtttest.Broker(t)
	base, prefix := mqtttest.Unique("blueprints"), mqtttest.Unique("blueprintsha")
	d := &daemon{t: t, clock: clock, sim: sim, svc: svc, base: base, locks: locks,
		mqtt: mqtttest.Connect(t, broker, base+"/#")}
	ha := mqtt.New(svc, store, mqtt.Options{
		URL: broker, ClientID: base, BaseTopic: base, DiscoveryPrefix: prefix, Retention: 168 * time.Hour,
		Version: "test", Now: clock.Now, Logger: logger,
	})
	svc.Subscribe(ha)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ha.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mqtt bridge: %v", err)
		}
		for topic := range mqtttest.Retained(t, broker, base+"/#", prefix+"/#") {
			d.mqtt.Publish(topic, nil, true)
		}
	})
	d.mqtt.WaitPayload(wait, base+"/availability", "online")
	d.sync()
	return d
}

// sync syncs with the simulated Nuki Web and returns when it is done.
func (d *daemon) sync() {
	d.t.Helper()
	if err := d.svc.Sync(context.Background()); err != nil {
		d.t.Fatal(err)
	}
}

// lockWorks lets the locks carry out what Nuki Web holds for them, then
// syncs.
func (d *daemon) lockWorks() {
	d.t.Helper()
	d.clock.Advance(5 * time.Second)
	d.sim.Settle()
	d.sync()
}

// tick runs the scheduler's step after the clock moved by step.
func (d *daemon) tick(step time.Duration) {
	d.t.Helper()
	d.clock.Advance(step)
	if err := d.svc.Tick(context.Background()); err != nil {
		d.t.Fatal(err)
	}
}

// runScript publishes what one run of the invite script publishes, as Home
// Assistant's mqtt.publish does, and returns the daemon's answer.
func (d *daemon) runScript(cfg map[string]any, fields map[string]any, contextID string) map[string]any {
	d.t.Helper()
	p, err := runInvite(cfg, fields, contextID, berlin(d.t))
	if err != nil {
		d.t.Fatal(err)
	}
	if p.QoS != 1 || p.Retain {
		d.t.Fatalf("the script publishes with qos %d, retain %t; the test client publishes with qos 1, not retained", p.QoS, p.Retain)
	}
	var sent struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(p.Payload, &sent); err != nil || sent.RequestID == "" {
		d.t.Fatalf("the payload has no request id (%v):\n%s", err, p.Payload)
	}
	answers := func() []mqtttest.Message {
		var out []mqtttest.Message
		for _, m := range d.mqtt.On(d.base + "/result") {
			if strings.Contains(string(m.Payload), `"request_id":`+strconv.Quote(sent.RequestID)) {
				out = append(out, m)
			}
		}
		return out
	}
	before := len(answers())
	d.mqtt.Publish(p.Topic, p.Payload, p.Retain)
	deadline := time.Now().Add(wait)
	for len(answers()) == before {
		if time.Now().After(deadline) {
			d.t.Fatalf("no answer to %s within %s", sent.RequestID, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := answers()[before]
	var answer map[string]any
	if err := json.Unmarshal(m.Payload, &answer); err != nil {
		d.t.Fatal(err)
	}
	if answer["ok"] != true {
		d.t.Fatalf("the daemon refused the script's invitation: %v", answer)
	}
	return answer
}

// event waits for an event of type ev about the guest called name.
func (d *daemon) event(ev bridge.EventType, name string) mqtttest.Message {
	d.t.Helper()
	return d.mqtt.WaitFor(wait, string(ev)+" of "+name, func(m mqtttest.Message) bool {
		var e struct {
			EventType bridge.EventType `json:"event_type"`
			Name      string           `json:"name"`
		}
		return m.Topic == d.base+"/event" && json.Unmarshal(m.Payload, &e) == nil && e.EventType == ev && e.Name == name
	})
}

// TestRoundTrip runs the blueprints against the daemon: the script's
// rendered command invites two guests, once only however often it is
// delivered, with the access window reaching Nuki Web as the user meant it
// in Home Assistant's time zone; then each automation fires for exactly the
// events it is meant for, and its message names the guest and the lock.
func TestRoundTrip(t *testing.T) {
	local := berlin(t)
	d := startDaemon(t)
	front, garage := strconv.FormatInt(d.locks[0].ID, 10), strconv.FormatInt(d.locks[1].ID, 10)
	script := load(t, inviteScript).substitute(t, map[string]any{"lock_ids": []any{front, garage}, "base_topic": d.base})

	alice := map[string]any{
		"name": "Alice Martin", "email": "alice@example.com", "locks": []any{front}, "language": "de",
		"allowed_from": "2026-04-27 12:00:00", "allowed_until": "2026-05-04 12:00:00",
		"weekdays": []any{"mon", "tue", "wed", "thu", "fri"}, "from_time": "08:00:00", "until_time": "20:00:00",
	}
	first := d.runScript(script, alice, "01JV8Q4Z6W3T2M5N7P9R1S3UAA")
	again := d.runScript(script, alice, "01JV8Q4Z6W3T2M5N7P9R1S3UAA") // the same run, delivered twice
	if !slices.Equal(first["invite_ids"].([]any), again["invite_ids"].([]any)) {
		t.Errorf("the repeated run answered %v, the first %v", again["invite_ids"], first["invite_ids"])
	}
	d.runScript(script, map[string]any{"name": "Bob", "email": "bob@example.com", "locks": []any{garage}},
		"01JV8Q4Z6W3T2M5N7P9R1S3UBB")
	d.lockWorks()

	auths := d.sim.Auths()
	if len(auths) != 2 || len(d.sim.Emails()) != 2 {
		t.Fatalf("Nuki Web has %d authorizations and sent %d invitation e-mails, want 2 and 2: %+v", len(auths), len(d.sim.Emails()), auths)
	}
	_, aliceUser, err := bridge.ParseInviteID(first["invite_ids"].([]any)[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range auths {
		if a.SmartlockID != d.locks[0].ID {
			continue
		}
		want := bridge.Access{From: time.Date(2026, 4, 27, 10, 0, 0, 0, time.UTC), Until: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC),
			WeekDays: 124, FromTime: 8 * 60, UntilTime: 20 * 60}
		if !a.Access.From.Equal(want.From) || !a.Access.Until.Equal(want.Until) || a.Access.WeekDays != want.WeekDays ||
			a.Access.FromTime != want.FromTime || a.Access.UntilTime != want.UntilTime || a.AccountUserID != aliceUser {
			t.Errorf("Alice's key on the front door has the access window %+v, want %+v (12:00 in Berlin is 10:00 UTC)", a.Access, want)
		}
	}

	// Alice opens the door: accepted. Bob never comes: his invitation is
	// expiring 36 hours after the lock took it, and expired at 48.
	if _, err := d.sim.Use(d.locks[0].ID, aliceUser, 1); err != nil {
		t.Fatal(err)
	}
	d.sync()
	d.event(bridge.EventAccepted, "Alice Martin")
	d.tick(37 * time.Hour)
	d.event(bridge.EventExpiringSoon, "Bob")
	d.event(bridge.EventReminder, "Bob")
	d.tick(12 * time.Hour)
	d.event(bridge.EventExpired, "Bob")
	events := d.mqtt.On(d.base + "/event")

	for _, tt := range []struct {
		path   string
		values map[string]any
		guest  string
		lock   string
	}{
		{accepted, nil, "Alice Martin", "Front door"},
		{expiring, map[string]any{"event_type": "expiring_soon"}, "Bob", "Garage"},
		{expiring, map[string]any{"event_type": "reminder"}, "Bob", "Garage"},
		{expired, nil, "Bob", "Garage"},
	} {
		values := map[string]any{"base_topic": d.base, "notify_action": "notify.mobile_app_pixel"}
		for k, v := range tt.values {
			values[k] = v
		}
		cfg := load(t, tt.path).substitute(t, values)
		tr, err := automationTrigger(cfg, local)
		if err != nil {
			t.Fatal(err)
		}
		var messages []string
		for _, m := range events {
			fired, err := tr.fires(m.Topic, m.Payload, local)
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			if !fired {
				continue
			}
			n, err := notify(cfg, m.Topic, m.Payload, local)
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			messages = append(messages, n.Message)
		}
		if len(messages) != 1 || !strings.Contains(messages[0], tt.guest) || !strings.Contains(messages[0], tt.lock) {
			t.Errorf("%s %v fired %d times with %q; want once, naming %s and %s (events: %d)",
				tt.path, tt.values, len(messages), messages, tt.guest, tt.lock, len(events))
		}
	}
}
