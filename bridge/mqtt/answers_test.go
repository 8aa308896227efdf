package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// TestEveryCommandIsAnswered floods the bridge with creates and re-sends
// while the Service holds the first create: the queue fills up, and every
// command still gets exactly one answer, the ones that found it full a busy
// refusal carrying their request and invitation ids.
func TestEveryCommandIsAnswered(t *testing.T) {
	const n = 2000
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	release := h.svc.hold()
	results := mqtttest.ConnectBulk(t, h.url, h.topic("result"))
	w := h.watch(h.topic("availability"))
	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")

	create := func(i int) string {
		return fmt.Sprintf(`{"request_id":"f%d","email":"guest%d@example.com","name":"Guest","smartlock_ids":[101]}`, i, i)
	}
	for i := range n {
		if i%2 == 0 {
			w.Publish(h.topic("invite/create"), []byte(create(i)), false)
		} else {
			w.Publish(h.topic("invite/101-201/resend"), []byte(fmt.Sprintf(`{"request_id":"f%d"}`, i)), false)
		}
	}
	release()
	results.WaitCount(time.Minute, n)

	seen := make(map[string]int)
	busy := 0
	for _, m := range results.On(h.topic("result")) {
		r := decode(t, m.Payload)
		id, _ := r["request_id"].(string)
		seen[id]++
		errText, _ := r["error"].(string)
		if !strings.HasPrefix(errText, "busy: ") {
			continue
		}
		busy++
		want := "busy: 256 commands are waiting; try again in a moment"
		var i int
		if _, err := fmt.Sscanf(id, "f%d", &i); err != nil || errText != want || r["ok"] != false {
			t.Errorf("busy refusal %s, want request_id f<i>, ok false and error %q", m.Payload, want)
			continue
		}
		if cmd, inv := r["command"], r["invite_id"]; i%2 == 0 && (cmd != "create" || inv != "") ||
			i%2 == 1 && (cmd != "resend" || inv != "101-201") {
			t.Errorf("busy refusal %s names the wrong command or invitation", m.Payload)
		}
	}
	for i := range n {
		if id := fmt.Sprintf("f%d", i); seen[id] != 1 {
			t.Errorf("command %s was answered %d times, want once", id, seen[id])
		}
	}
	if busy == 0 || busy == n {
		t.Errorf("%d of %d commands were refused as busy; want some, not all", busy, n)
	}
	if !strings.Contains(h.logs.String(), "commands refused as busy") {
		t.Errorf("the busy refusals were not logged")
	}
}
