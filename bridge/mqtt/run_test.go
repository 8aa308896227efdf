package mqtt_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/embedded"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

func TestRunRefusesBadTLSSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, caFile, want string }{
		{"missing CA file", filepath.Join(dir, "absent.pem"), "MQTT_CA_FILE"},
		{"CA file without a certificate", notPEM, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "ssl://127.0.0.1:8883")
			opts := h.options()
			opts.CAFile = tc.caFile
			err := mqtt.New(h.svc, h.db, opts).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// TestRunRefusesBadConfigurationURL: Home Assistant drops a discovery
// message whose configuration_url it refuses, so Run does not start with
// one.
func TestRunRefusesBadConfigurationURL(t *testing.T) {
	for _, bad := range []string{"ftp://nas.local/", "hassio/ingress/nuki_invites", "homeassistant:hassio", "http://"} {
		t.Run(bad, func(t *testing.T) {
			h := newHarness(t, "tcp://127.0.0.1:1")
			opts := h.options()
			opts.ConfigurationURL = bad
			err := mqtt.New(h.svc, h.db, opts).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), "configuration URL") {
				t.Errorf("Run = %v, want an error about the configuration URL", err)
			}
		})
	}
}

func TestRunStopsWhileTheBrokerIsAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	h := newHarness(t, "tcp://"+addr)
	r := h.start()
	deadline := time.After(wait)
	for !strings.Contains(h.logs.String(), "could not connect to the MQTT broker") {
		select {
		case <-deadline:
			t.Fatalf("no log line about the failed connection:\n%s", h.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.stop() // fails the test unless Run returns nil promptly
}

func TestRunCalledTwice(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t))
	w := h.watch(h.topic("availability"))
	r := h.start()
	w.WaitPayload(wait, h.topic("availability"), "online") // the first Run is under way
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.bridge.Run(ctx); err == nil {
		t.Error("a second Run returned nil, want an error")
	}
}

// TestEmbeddedBroker runs the bridge against the broker the demo uses.
func TestEmbeddedBroker(t *testing.T) {
	broker, err := embedded.Start("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	h := newHarness(t, broker.URL(), fixture(t0)...)
	w := h.watch(h.topic("availability"), h.topic("result"), h.topic("bridge/state"))
	r := h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, broker.URL(), h.prefix+"/#", h.base+"/#")
	checkDiscovery(t, h, retained, "")

	w.Publish(h.topic("sync"), []byte(`{"request_id":"e1"}`), false)
	res := w.WaitFor(wait, "the result", live(h.topic("result")))
	if !strings.Contains(string(res.Payload), `"ok":true`) {
		t.Errorf("result = %s", res.Payload)
	}
	r.stop()
	w.WaitPayload(wait, h.topic("availability"), "offline")
}
