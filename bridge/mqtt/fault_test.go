package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

func TestBrokerRestart(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	h := newHarness(t, m.URL(), fixture(t0)...)
	w := h.watch(h.topic("availability"), h.topic("result"), h.topic("bridge/state"))
	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))

	m.Stop()
	w.Reset()
	m.Start() // without persistence: every retained message is gone
	w.WaitPayload(30*time.Second, h.topic("availability"), "online")
	w.WaitFor(wait, "the bridge state again", func(msg mqtttest.Message) bool { return msg.Topic == h.topic("bridge/state") })

	w.Publish(h.topic("sync"), []byte(`{"request_id":"after-restart"}`), false)
	res := w.WaitFor(10*time.Second, "the answer to a command sent after the restart", func(msg mqtttest.Message) bool {
		return msg.Topic == h.topic("result") && decode(t, msg.Payload)["request_id"] == "after-restart"
	})
	if r := decode(t, res.Payload); r["ok"] != true {
		t.Errorf("result = %s", res.Payload)
	}
	// The restarted broker lost every retained message; the bridge put
	// them back without waiting for Home Assistant's birth message.
	retained := mqtttest.Retained(t, m.URL(), h.topic("invite/+/state"), h.topic("lock/+/state"), h.topic("bridge/nuki_web"),
		h.prefix+"/device/+/config")
	if len(retained) != 9+9 {
		topics := slices.Sorted(maps.Keys(retained))
		t.Errorf("after the restart %d states and devices are retained, want 9 states (5 invitations, 3 locks, Nuki Web) "+
			"and 9 devices (bridge, 3 locks, 5 invitations): %q", len(retained), topics)
	}

	// A longer outage, long enough for a growing reconnect backoff to
	// reach 8 s: the bridge is still online and answering within 5 s of
	// the broker's return.
	m.Stop()
	time.Sleep(8 * time.Second)
	m.Start()
	back := time.Now()
	promise := func() time.Duration { return max(time.Until(back.Add(5*time.Second)), 0) }
	w2 := h.watch(h.topic("availability"), h.topic("result"))
	w2.WaitPayload(promise(), h.topic("availability"), "online")
	w2.Publish(h.topic("sync"), []byte(`{"request_id":"after-outage"}`), false)
	w2.WaitFor(promise(), "the answer within 5 s of the broker's return", func(msg mqtttest.Message) bool {
		return msg.Topic == h.topic("result") && decode(t, msg.Payload)["request_id"] == "after-outage"
	})
}

func TestCleanShutdownPublishesOffline(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t))
	w := h.watch(h.topic("availability"))
	r := h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")
	r.stop()
	w.WaitPayload(wait, h.topic("availability"), "offline")
	if got := mqtttest.Retained(t, h.url, h.topic("availability")); string(got[h.topic("availability")]) != "offline" {
		t.Errorf("retained availability = %q, want offline", got[h.topic("availability")])
	}
}

// childEnv makes the test binary run a bridge until it is killed.
const childEnv = "NUKI_INVITES_MQTT_CHILD"

type childConfig struct {
	URL, Base, Prefix string
}

// runChild runs a bridge over a Service with an empty store of its own
// until the process is killed.
func runChild() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "nuki-invites-child")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	db, err := bolt.Open(filepath.Join(dir, "nuki-invites.db"), bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer db.Close()
	sim := nukisim.New(nukisim.Options{Token: simToken, Instant: true})
	defer sim.Close()
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	svc := bridge.NewService(db, nukiweb.New(simSrv.URL, simToken, nukiweb.Options{}), nil, bridge.Options{})
	if err := svc.Open(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	b := mqtt.New(svc, db, mqtt.Options{
		URL: cfg.URL, ClientID: mqtttest.Unique("child"), BaseTopic: cfg.Base, DiscoveryPrefix: cfg.Prefix,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	svc.Subscribe(b)
	if err := b.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func TestKilledBridgeLeavesOfflineWill(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t))
	w := h.watch(h.topic("availability"))
	cfg, _ := json.Marshal(childConfig{URL: h.url, Base: h.base, Prefix: h.prefix})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
	cmd.Stderr = h.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	w.WaitPayload(wait, h.topic("availability"), "online")

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to say goodbye
		t.Fatal(err)
	}
	_ = cmd.Wait()
	w.WaitPayload(wait, h.topic("availability"), "offline")
	if got := mqtttest.Retained(t, h.url, h.topic("availability")); string(got[h.topic("availability")]) != "offline" {
		t.Errorf("retained availability = %q, want offline (the will)", got[h.topic("availability")])
	}
}

func TestRetainedCommandIsIgnored(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("result"), h.topic("availability"))
	revoke := h.topic("invite/101-201/revoke")
	w.Publish(revoke, []byte(`{"request_id":"stale"}`), true)
	t.Cleanup(func() { w.Publish(revoke, nil, true) })

	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online") // subscribed to commands
	w.Publish(h.topic("sync"), []byte(`{"request_id":"fresh"}`), false)
	w.WaitFor(wait, "the answer to the fresh command", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("result") && decode(t, m.Payload)["request_id"] == "fresh"
	})
	for _, m := range w.On(h.topic("result")) {
		if decode(t, m.Payload)["request_id"] == "stale" {
			t.Errorf("the retained command was answered: %s", m.Payload)
		}
	}
	for _, call := range h.svc.Calls() {
		if call != "sync" {
			t.Errorf("the service was called: %s", call)
		}
	}
	if inv := h.invitation("101-201"); inv.Status != bridge.StatusPending {
		t.Errorf("Alice is %s, want still pending", inv.Status)
	}
}
