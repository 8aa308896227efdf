package mqtt_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// benchInvitations is how many invitations the benchmarks publish.
const benchInvitations = 10000

// benchHarness returns a harness whose Service holds benchInvitations
// pending invitations on seven locks the account does not list: the Service
// keeps them as stored, under the bridge's device. paho's debug lines are
// off until b ends; a production log level does not format them.
func benchHarness(b *testing.B) (*harness, []bridge.Invitation) {
	pahoLevel.Set(slog.LevelInfo)
	b.Cleanup(func() { pahoLevel.Set(slog.LevelDebug) })
	invs := make([]bridge.Invitation, benchInvitations)
	for i := range invs {
		invs[i] = bridge.Invitation{
			ID: bridge.MakeInviteID(int64(200+i%7), int64(1000+i)), SmartlockID: int64(200 + i%7), AccountUserID: int64(1000 + i),
			Name: fmt.Sprintf("Guest %d", i), LockName: fmt.Sprintf("Door %d", i%7), Status: bridge.StatusPending,
			Send: 1, SentAt: t0, ExpiresAt: t0.Add(48 * time.Hour),
		}
	}
	return newHarness(b, mqtttest.Broker(b), invs...), invs
}

// resent is the harness's Service as it reads after a sync that found every
// invitation re-sent round times, so that each round of a benchmark changes
// every state without waiting for Nuki Web.
type resent struct {
	*watchedService
	round atomic.Int64
}

func (s *resent) Invitations(f bridge.Filter) []bridge.Invitation {
	return s.bump(s.watchedService.Invitations(f))
}

func (s *resent) InvitationsByID(ids []bridge.InviteID) []bridge.Invitation {
	return s.bump(s.watchedService.InvitationsByID(ids))
}

func (s *resent) bump(invs []bridge.Invitation) []bridge.Invitation {
	for i := range invs {
		invs[i].ResendCount = int(s.round.Load())
	}
	return invs
}

// events returns an event about each of invs as the Service hands them over
// after such a sync.
func (s *resent) events(invs []bridge.Invitation) []bridge.Event {
	events := make([]bridge.Event, len(invs))
	for i, inv := range invs {
		inv.ResendCount = int(s.round.Load())
		events[i] = bridge.Event{Type: bridge.EventChanged, At: t0, Invitation: inv}
	}
	return events
}

// hand passes events to the bridge 256 at a time, as the Service does.
func hand(r *running, events []bridge.Event) {
	for len(events) > 0 {
		n := min(len(events), 256)
		r.bridge.InvitationEvents(events[:n])
		events = events[n:]
	}
}

// BenchmarkPublishStates publishes the states of 10,000 invitations through
// the Bridge, then the very same messages through a bare paho client (QoS 1,
// retained, pipelined), each time until a subscriber has received all of
// them. It reports both rates and the ratio of the times (bridge/paho).
func BenchmarkPublishStates(b *testing.B) {
	h, invs := benchHarness(b)
	w := mqtttest.ConnectBulk(b, h.url, h.topic("invite/+/state"), h.topic("bridge/state"))
	svc := &resent{watchedService: h.svc}
	r := h.startOn(svc)
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
		svc.round.Store(int64(round)) // a real change, so every state is due
		events := svc.events(invs)
		w.Reset()
		start := time.Now()
		// The Service would tell the bridge so after a sync that changed
		// them all; the benchmark measures the bridge alone.
		r.bridge.InvitationEvents(events)
		w.WaitCount(time.Minute, len(invs))
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
		w.WaitCount(time.Minute, len(invs))
		viaPaho += time.Since(start)
	}
	msgs := float64(len(invs) * round)
	b.ReportMetric(msgs/viaBridge.Seconds(), "bridge-msgs/s")
	b.ReportMetric(msgs/viaPaho.Seconds(), "paho-msgs/s")
	b.ReportMetric(viaBridge.Seconds()/viaPaho.Seconds(), "bridge/paho")
}

// BenchmarkInvitationEvents hands the Bridge an event about each of 10,000
// invitations, 256 at a time as the Service does after a sync that changed
// them all, until the last state is on the broker. Allocations include the
// MQTT client's, not the events'.
func BenchmarkInvitationEvents(b *testing.B) {
	h, invs := benchHarness(b)
	last := h.topic("invite/" + string(invs[len(invs)-1].ID) + "/state")
	w := mqtttest.Connect(b, h.url, last, h.topic("bridge/state"))
	svc := &resent{watchedService: h.svc}
	r := h.startOn(svc)
	w.WaitFor(time.Minute, "the bridge state", live(h.topic("bridge/state")))

	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		svc.round.Store(int64(round))
		events := svc.events(invs)
		w.Reset()
		b.StartTimer()
		hand(r, events)
		w.WaitFor(time.Minute, "the last invitation's state", live(last))
	}
}

// BenchmarkReconcile tells the Bridge of a new sync state, as after every
// sync, until the bridge state is on the broker: it checks the devices and
// states of 10,000 invitations against what the broker holds, none of which
// changed. Allocations include the MQTT client's.
func BenchmarkReconcile(b *testing.B) {
	h, _ := benchHarness(b)
	w := mqtttest.Connect(b, h.url, h.topic("bridge/state"))
	r := h.start()
	w.WaitFor(time.Minute, "the bridge state", live(h.topic("bridge/state")))

	b.ReportAllocs()
	st := h.svc.SyncState()
	for b.Loop() {
		st.LastSync = st.LastSync.Add(time.Minute)
		want := `"last_sync":"` + st.LastSync.Format(time.RFC3339) + `"`
		w.Reset()
		r.bridge.SyncStateChanged(st)
		w.WaitFor(time.Minute, "the new bridge state", func(m mqtttest.Message) bool {
			return m.Topic == h.topic("bridge/state") && strings.Contains(string(m.Payload), want)
		})
	}
}
