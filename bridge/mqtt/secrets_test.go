package mqtt_test

import (
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// TestNoSecretsOnTopicsOrInLogs runs a create, a code/get with codes exposed
// and a re-send, then looks for the invite code and the MQTT password in
// every message, every retained message and every log line (the bridge's and
// paho's, at debug level). The code may only appear on the code topic, which
// is not retained.
func TestNoSecretsOnTopicsOrInLogs(t *testing.T) {
	const (
		password = "mqtt-Pa55-word-7Qx"
		code     = "482913675" // what the fake stores for created invitations
	)
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	h.svc.exposeCodes = true
	w := h.watch(h.base+"/#", h.prefix+"/#")
	h.start(func(o *mqtt.Options) { o.Username, o.Password = "bridge", bridge.Secret(password) })
	w.WaitPayload(wait, h.topic("availability"), "online")

	result := func(id string) {
		w.WaitFor(wait, "result "+id, func(m mqtttest.Message) bool {
			return m.Topic == h.topic("result") && strings.Contains(string(m.Payload), `"request_id":"`+id+`"`)
		})
	}
	w.Publish(h.topic("invite/create"), []byte(`{"request_id":"s1","email":"guest@example.com","name":"Guest","smartlock_ids":[101]}`), false)
	result("s1")
	w.Publish(h.topic("invite/101-901/code/get"), []byte(`{"request_id":"s2"}`), false)
	result("s2")
	w.Publish(h.topic("invite/101-901/resend"), []byte(`{"request_id":"s3"}`), false)
	result("s3")
	w.WaitFor(wait, "the re-sent state", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("invite/101-901/state") && strings.Contains(string(m.Payload), `"resend_count":1`)
	})

	codeTopic := h.topic("invite/101-901/code")
	seen := false
	for _, m := range w.Messages() {
		if strings.Contains(string(m.Payload), password) {
			t.Errorf("the MQTT password is in a message on %s", m.Topic)
		}
		if strings.Contains(string(m.Payload), code) {
			if m.Topic != codeTopic || m.Retained {
				t.Errorf("the invite code is in a message on %s (retained=%t)", m.Topic, m.Retained)
			}
			seen = true
		}
	}
	if !seen {
		t.Errorf("the code never reached %s, so this test proves nothing", codeTopic)
	}
	for topic, payload := range mqtttest.Retained(t, h.url, h.base+"/#", h.prefix+"/#") {
		if strings.Contains(string(payload), code) || strings.Contains(string(payload), password) {
			t.Errorf("a secret is retained on %s", topic)
		}
	}
	for name, logs := range map[string]string{"bridge": h.logs.String(), "paho": pahoLogs.String()} {
		if logs == "" {
			t.Errorf("no %s log lines captured", name)
		}
		for _, secret := range []string{code, password} {
			if strings.Contains(logs, secret) {
				t.Errorf("the %s log contains a secret", name)
			}
		}
	}
}
