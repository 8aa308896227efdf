package mqtt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

// TestNoSecretsOnTopicsOrInLogs creates a keypad code with a code of its
// own, asks for it and for Alice's invite code with codes exposed, re-sends
// Alice's invitation, then looks for both codes and the MQTT password in
// every message, every retained message and every log line (the bridge's,
// the Service's and paho's, at debug level). A code may only appear on its
// code topic, which is not retained.
func TestNoSecretsOnTopicsOrInLogs(t *testing.T) {
	const (
		password   = "mqtt-Pa55-word-7Qx"
		keypadCode = "734195"
	)
	inviteCode := fixtureCodes["101-201"].Reveal()
	h := newHarnessWith(t, mqtttest.Broker(t), bridge.Options{ExposeCodes: true}, fixture(t0)...)
	w := h.watch(h.base+"/#", h.prefix+"/#")
	h.start(func(o *mqtt.Options) { o.Username, o.Password = "bridge", bridge.Secret(password) })
	w.WaitPayload(wait, h.topic("availability"), "online")

	result := func(id string) map[string]any {
		return decode(t, w.WaitFor(wait, "result "+id, func(m mqtttest.Message) bool {
			return m.Topic == h.topic("result") && strings.Contains(string(m.Payload), `"request_id":"`+id+`"`)
		}).Payload)
	}
	w.Publish(h.topic("invite/create"), []byte(`{"request_id":"s1","kind":"keypad","name":"Guest","smartlock_ids":[101],`+
		`"code":"`+keypadCode+`","allowed_until":"2026-03-02T12:00:00Z"}`), false)
	created := result("s1")
	ids, _ := created["invite_ids"].([]any)
	if created["ok"] != true || len(ids) != 1 {
		t.Fatalf("keypad create: %v", created)
	}
	keypadID := fmt.Sprint(ids[0])
	w.Publish(h.topic("invite/"+keypadID+"/code/get"), []byte(`{"request_id":"s2"}`), false)
	if r := result("s2"); r["ok"] != true {
		t.Errorf("code/get of the keypad code: %v", r)
	}
	w.Publish(h.topic("invite/101-201/code/get"), []byte(`{"request_id":"s3"}`), false)
	if r := result("s3"); r["ok"] != true {
		t.Errorf("code/get of Alice's code: %v", r)
	}
	w.Publish(h.topic("invite/101-201/resend"), []byte(`{"request_id":"s4"}`), false)
	if r := result("s4"); r["ok"] != true {
		t.Errorf("re-send of Alice's invitation: %v", r)
	}
	w.WaitFor(wait, "the re-sent state", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("invite/101-201/state") && strings.Contains(string(m.Payload), `"resend_count":1`)
	})

	codeTopics := map[string]string{keypadCode: h.topic("invite/" + keypadID + "/code"), inviteCode: h.topic("invite/101-201/code")}
	seen := map[string]bool{}
	for _, m := range w.Messages() {
		if m.Topic == h.topic("invite/create") {
			continue // the command that gave the keypad code
		}
		if strings.Contains(string(m.Payload), password) {
			t.Errorf("the MQTT password is in a message on %s", m.Topic)
		}
		for code, topic := range codeTopics {
			if strings.Contains(string(m.Payload), code) {
				if m.Topic != topic || m.Retained {
					t.Errorf("the code %s is in a message on %s (retained=%t)", topic, m.Topic, m.Retained)
				}
				seen[code] = true
			}
		}
	}
	for code, topic := range codeTopics {
		if !seen[code] {
			t.Errorf("the code never reached %s, so this test proves nothing", topic)
		}
	}
	for topic, payload := range mqtttest.Retained(t, h.url, h.base+"/#", h.prefix+"/#") {
		for _, secret := range []string{keypadCode, inviteCode, password} {
			if strings.Contains(string(payload), secret) {
				t.Errorf("a secret is retained on %s", topic)
			}
		}
	}
	for name, logs := range map[string]string{"bridge and Service": h.logs.String(), "paho": pahoLogs.String()} {
		if logs == "" {
			t.Errorf("no %s log lines captured", name)
		}
		for _, secret := range []string{keypadCode, inviteCode, password} {
			if strings.Contains(logs, secret) {
				t.Errorf("the %s log contains a secret", name)
			}
		}
	}
}
