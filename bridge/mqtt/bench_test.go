package mqtt_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// BenchmarkPublishStates publishes the states of 10,000 invitations through
// the Bridge, then the very same messages through a bare paho client (QoS 1,
// retained, pipelined), each time until a subscriber has received all of
// them. It reports both rates and the ratio of the times (bridge/paho).
func BenchmarkPublishStates(b *testing.B) {
	const n = 10000
	// paho's debug lines would be formatted for every message of both
	// clients; a production log level does not do that.
	pahoLevel.Set(slog.LevelInfo)
	defer pahoLevel.Set(slog.LevelDebug)
	// On locks the account does not list: the Service keeps them as
	// stored, under the bridge's device.
	invs := make([]bridge.Invitation, n)
	for i := range invs {
		invs[i] = bridge.Invitation{
			ID: bridge.MakeInviteID(int64(200+i%7), int64(1000+i)), SmartlockID: int64(200 + i%7), AccountUserID: int64(1000 + i),
			Name: fmt.Sprintf("Guest %d", i), LockName: fmt.Sprintf("Door %d", i%7), Status: bridge.StatusPending,
			Send: 1, SentAt: t0, ExpiresAt: t0.Add(48 * time.Hour),
		}
	}
	h := newHarness(b, mqtttest.Broker(b), invs...)
	w := mqtttest.ConnectBulk(b, h.url, h.topic("invite/+/state"), h.topic("bridge/state"))
	r := h.start()
	w.WaitFor(time.Minute, "the bridge state", live(h.topic("bridge/state")))

	bare := paho.NewClient(paho.NewClientOptions().AddBroker(h.url).SetClientID(mqtttest.Unique("bare")).SetOrderMatters(false))
	if tok := bare.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		b.Fatalf("bare client: %v", tok.Error())
	}
	defer bare.Disconnect(100)

	var viaBridge, viaPaho time.Duration
	round := 0
	for b.Loop() {
		round++
		events := make([]bridge.Event, n)
		for i, inv := range invs {
			inv.ResendCount = round // a real change, so every state is due
			events[i] = bridge.Event{Type: bridge.EventChanged, At: t0, Invitation: inv}
		}
		w.Reset()
		start := time.Now()
		// The Service would tell the bridge so after a sync that changed
		// them all; the benchmark measures the bridge alone.
		r.bridge.InvitationEvents(events)
		w.WaitCount(time.Minute, n)
		viaBridge += time.Since(start)

		msgs := w.Messages()
		w.Reset()
		start = time.Now()
		tokens := make([]paho.Token, len(msgs))
		for i, m := range msgs {
			tokens[i] = bare.Publish(m.Topic, 1, true, m.Payload)
		}
		for _, tok := range tokens {
			if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				b.Fatalf("bare publish: %v", tok.Error())
			}
		}
		w.WaitCount(time.Minute, n)
		viaPaho += time.Since(start)
	}
	msgs := float64(n * round)
	b.ReportMetric(msgs/viaBridge.Seconds(), "bridge-msgs/s")
	b.ReportMetric(msgs/viaPaho.Seconds(), "paho-msgs/s")
	b.ReportMetric(viaBridge.Seconds()/viaPaho.Seconds(), "bridge/paho")
}
