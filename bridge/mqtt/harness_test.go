package mqtt_test

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// pahoLogs collects paho's own log lines from every test in this process,
// so the secrets test can scan them too; pahoLevel is their level (debug,
// everything).
var (
	pahoLogs  bridgetest.Logs
	pahoLevel slog.LevelVar
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pahoLevel.Set(slog.LevelDebug)
	mqtt.RoutePahoLogs(slog.New(slog.NewTextHandler(&pahoLogs, &slog.HandlerOptions{Level: &pahoLevel})))
	os.Exit(m.Run())
}

const wait = 10 * time.Second

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is one invitation in every kind of state: Alice pending, Bob
// accepted an hour ago (and seen using the lock since), Carol revoked ten
// days ago (past retention), Dave expiring soon, Zoë failed, Finn sending
// (the lock has not confirmed his invitation yet).
func fixture(now time.Time) []bridge.Invitation {
	inv := func(lock, user int64, name, lockName string, st bridge.Status, sent time.Time) bridge.Invitation {
		return bridge.Invitation{
			ID: bridge.MakeInviteID(lock, user), SmartlockID: lock, AccountUserID: user, Name: name,
			Email: strings.ToLower(strings.Fields(name)[0]) + "@example.com", LockName: lockName, Delivery: bridge.DeliveryNuki,
			Send: 1, SentAt: sent, ConfirmedAt: sent, ExpiresAt: sent.Add(48 * time.Hour), Status: st,
		}
	}
	alice := inv(101, 201, "Alice", "Front door", bridge.StatusPending, now.Add(-2*time.Hour))
	bob := inv(101, 202, "Bob", "Front door", bridge.StatusAccepted, now.Add(-5*time.Hour))
	bob.AcceptedAt, bob.AcceptedSignal = now.Add(-time.Hour), bridge.SignalActivityLog
	bob.LastUsedAt = now.Add(-10 * time.Minute)
	carol := inv(102, 203, "Carol", "Back door", bridge.StatusRevoked, now.Add(-12*24*time.Hour))
	carol.RevokedAt = now.Add(-10 * 24 * time.Hour)
	dave := inv(102, 204, "Dave", "Back door", bridge.StatusExpiringSoon, now.Add(-42*time.Hour))
	dave.ResendCount = 1
	zoe := inv(101, 205, "Zoë Müller", "Front door", bridge.StatusFailed, now.Add(-3*time.Hour))
	zoe.FailedAt, zoe.LastError = now.Add(-3*time.Hour), "Nuki Web rejected the request: lock offline (ff)"
	finn := inv(102, 206, "Finn", "Back door", bridge.StatusSending, now.Add(-time.Minute))
	finn.ConfirmedAt, finn.ExpiresAt = time.Time{}, time.Time{}
	return []bridge.Invitation{alice, bob, carol, dave, zoe, finn}
}

// fixtureLocks are the account's locks: the two doors of the fixture and a
// garage of a type Nuki had not named yet, with no invitation on it.
func fixtureLocks() []bridge.Lock {
	return []bridge.Lock{
		{ID: 102, Name: "Back door", Type: 0},
		{ID: 101, Name: "Front door", Type: 4},
		{ID: 103, Name: "Garage", Type: 9},
	}
}

// harness is one bridge's world: a fake Service (with the fixture's locks),
// a store, a clock, topics of its own on the broker and a log buffer.
type harness struct {
	t      testing.TB
	url    string
	base   string
	prefix string
	clock  *bridgetest.Clock
	svc    *fakeService
	store  *memStore
	logs   *bridgetest.Logs
}

func newHarness(t testing.TB, url string, invs ...bridge.Invitation) *harness {
	c := bridgetest.NewClock(t0)
	h := &harness{
		t: t, url: url, base: mqtttest.Unique("nit"), prefix: mqtttest.Unique("ha"),
		clock: c, svc: newFakeService(c.Now, invs...), store: newMemStore(), logs: &bridgetest.Logs{},
	}
	h.svc.setLocks(fixtureLocks()...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) options() mqtt.Options {
	return mqtt.Options{
		URL: h.url, ClientID: mqtttest.Unique("bridge"), BaseTopic: h.base, DiscoveryPrefix: h.prefix,
		Retention: 168 * time.Hour, Version: "1.2.3", Now: h.clock.Now, Logger: h.logs.Logger(),
		BirthDelay: func() time.Duration { return 10 * time.Millisecond },
	}
}

// running is a Bridge whose Run is going on in a goroutine.
type running struct {
	bridge *mqtt.Bridge
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	t      testing.TB
}

func (h *harness) start(tweak ...func(*mqtt.Options)) *running {
	opts := h.options()
	for _, f := range tweak {
		f(&opts)
	}
	b := mqtt.New(h.svc, h.store, opts)
	h.svc.subscribe(b)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{bridge: b, cancel: cancel, done: make(chan error, 1), t: h.t}
	go func() { r.done <- b.Run(ctx) }()
	h.t.Cleanup(r.stop)
	return r
}

// stop cancels Run and checks it returns nil.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(wait):
			r.t.Errorf("Run did not return within %s of cancel", wait)
		}
	})
}

func (h *harness) topic(rel string) string { return h.base + "/" + rel }

func (h *harness) discoveryTopic(device string) string {
	return h.prefix + "/device/" + h.base + "_" + device + "/config"
}

// watch connects a recording client to the harness' topics.
func (h *harness) watch(filters ...string) *mqtttest.Client {
	return mqtttest.Connect(h.t, h.url, filters...)
}

// live matches messages published while we listened (not from the store).
func live(topic string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool { return m.Topic == topic && !m.Retained }
}

// normalize replaces the test's random topics with the defaults, for golden
// files and readable failures.
func (h *harness) normalize(b []byte) string {
	s := strings.ReplaceAll(string(b), h.base, "nuki_invites")
	return strings.ReplaceAll(s, h.prefix, "homeassistant")
}

func golden(t *testing.T, name string, payload string) {
	t.Helper()
	var pretty strings.Builder
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, payload)
	}
	enc := json.NewEncoder(&pretty)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, []byte(pretty.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if pretty.String() != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, path, pretty.String(), want)
	}
}

func decode(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, payload)
	}
	return m
}
