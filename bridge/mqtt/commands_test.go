package mqtt_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
)

func TestCommands(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("result"), h.topic("availability"), h.topic("invite/+/code"))
	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")

	tests := []struct {
		name      string
		topic     string // below the base topic
		payload   string
		want      map[string]any // fields of the result
		wantError string         // part of the error; "" when ok
		wantCall  string         // the service call made; "" for none
	}{
		{name: "sync without payload", topic: "sync",
			want: map[string]any{"command": "sync", "ok": true, "request_id": "", "invite_id": ""}, wantCall: "sync"},
		{name: "sync with a request id", topic: "sync", payload: `{"request_id":"r1"}`,
			want: map[string]any{"command": "sync", "ok": true, "request_id": "r1"}, wantCall: "sync"},
		{name: "sync pressed by a Home Assistant button", topic: "sync", payload: `PRESS`,
			want: map[string]any{"command": "sync", "ok": true, "request_id": ""}, wantCall: "sync"},
		{name: "code/get pressed: the payload is no JSON object, so no options", topic: "invite/101-201/code/get", payload: `PRESS`,
			want: map[string]any{"command": "code/get", "ok": false, "invite_id": "101-201"}, wantError: "EXPOSE_CODES", wantCall: "code 101-201 mqtt"},
		{name: "sync with bad JSON", topic: "sync", payload: `{nope`,
			want: map[string]any{"command": "sync", "ok": false}, wantError: "JSON"},
		{name: "resend", topic: "invite/101-201/resend", payload: `{"request_id":"r2"}`,
			want:     map[string]any{"command": "resend", "ok": true, "request_id": "r2", "invite_id": "101-201", "error": ""},
			wantCall: "resend 101-201  mqtt"},
		{name: "a second re-send within the cooldown", topic: "invite/101-201/resend", payload: `{"request_id":"r2b"}`,
			want: map[string]any{"ok": false, "request_id": "r2b"}, wantError: "RESEND_COOLDOWN", wantCall: "resend 101-201  mqtt"},
		{name: "resend with custom delivery", topic: "invite/102-204/resend", payload: `{"delivery":"custom"}`,
			want: map[string]any{"ok": false, "invite_id": "102-204"}, wantError: "custom delivery needs the Nuki Advanced API",
			wantCall: "resend 102-204 custom mqtt"},
		{name: "resend with an unknown delivery", topic: "invite/101-201/resend", payload: `{"request_id":"r3","delivery":"pigeon"}`,
			want: map[string]any{"ok": false, "request_id": "r3"}, wantError: `delivery must be "nuki" or "custom"`},
		{name: "resend with force", topic: "invite/101-205/resend", payload: `{"request_id":"f1","force":true}`,
			want: map[string]any{"ok": true, "request_id": "f1"}, wantCall: "resend 101-205  mqtt force"},
		{name: "resend of an accepted invitation", topic: "invite/101-202/resend", payload: `{"request_id":"f2"}`,
			want: map[string]any{"ok": false, "request_id": "f2", "invite_id": "101-202"}, wantError: "accepted",
			wantCall: "resend 101-202  mqtt"},
		{name: "resend with force as a string", topic: "invite/101-202/resend", payload: `{"request_id":"f3","force":"yes"}`,
			want: map[string]any{"ok": false, "request_id": "f3"}, wantError: "force must be true or false, not a JSON string"},
		{name: "resend with an unknown field", topic: "invite/101-202/resend", payload: `{"request_id":"f4","forced":true}`,
			want: map[string]any{"ok": false, "request_id": "f4"}, wantError: `unknown field "forced"`},
		{name: "resend with two JSON objects", topic: "invite/101-202/resend", payload: `{"force":true} {}`,
			want: map[string]any{"ok": false}, wantError: "only one JSON object"},
		{name: "revoke with force", topic: "invite/101-202/revoke", payload: `{"force":true}`,
			want: map[string]any{"command": "revoke", "ok": false}, wantError: "force applies to resend only"},
		{name: "confirm a held sync with nothing held", topic: "sync", payload: `{"confirm_held":true}`,
			want: map[string]any{"command": "sync", "ok": false}, wantError: "no sync is held", wantCall: "confirm_held"},
		{name: "confirm_held on revoke", topic: "invite/11-1/revoke", payload: `{"confirm_held":true}`,
			want: map[string]any{"command": "revoke", "ok": false}, wantError: "confirm_held applies to sync only"},
		{name: "sync with a delivery", topic: "sync", payload: `{"delivery":"custom"}`,
			want: map[string]any{"command": "sync", "ok": false}, wantError: "delivery applies to resend only"},
		{name: "resend of an unknown invitation", topic: "invite/999-999/resend",
			want: map[string]any{"ok": false, "invite_id": "999-999"}, wantError: "not found", wantCall: "resend 999-999  mqtt"},
		{name: "revoke with a malformed id", topic: "invite/abc/revoke",
			want: map[string]any{"command": "revoke", "ok": false, "invite_id": "abc"}, wantError: "not an invitation id"},
		{name: "unknown sub-command", topic: "invite/101-201/code/set", payload: `{"request_id":"r4"}`,
			want: map[string]any{"command": "code/set", "ok": false, "request_id": "r4"}, wantError: "unknown command"},
		{name: "code refused without EXPOSE_CODES", topic: "invite/101-201/code/get",
			want: map[string]any{"command": "code/get", "ok": false}, wantError: "EXPOSE_CODES", wantCall: "code 101-201 mqtt"},
		{name: "revoke", topic: "invite/101-202/revoke",
			want: map[string]any{"command": "revoke", "ok": true, "invite_id": "101-202"}, wantCall: "revoke 101-202 mqtt"},
		{name: "create", topic: "invite/create",
			payload: `{"request_id":"c1","email":"new@example.com","name":"New","smartlock_ids":[101,102],` +
				`"allowed_from":"2026-03-02T08:00:00+01:00","allowed_weekdays":["mon","Friday"],` +
				`"allowed_from_time":"08:30","allowed_until_time":"18:00"}`,
			want:     map[string]any{"command": "create", "ok": true, "request_id": "c1"},
			wantCall: "create new@example.com"},
		{name: "create with a weekday bitmask", topic: "invite/create",
			payload: `{"email":"mask@example.com","name":"Mask","smartlock_ids":[101],"allowed_weekdays":65}`,
			want:    map[string]any{"ok": true}, wantCall: "create mask@example.com"},
		{name: "create refused by the service", topic: "invite/create", payload: `{"request_id":"c2","name":"No email","smartlock_ids":[101]}`,
			want: map[string]any{"ok": false, "request_id": "c2"}, wantError: "email", wantCall: "create "},
		{name: "create with an unknown weekday", topic: "invite/create",
			payload: `{"request_id":"c3","email":"x@example.com","smartlock_ids":[101],"allowed_weekdays":["funday"]}`,
			want:    map[string]any{"ok": false, "request_id": "c3"}, wantError: `"funday" is not one of mon`},
		{name: "create with a bitmask out of range", topic: "invite/create",
			payload: `{"email":"x@example.com","smartlock_ids":[101],"allowed_weekdays":128}`,
			want:    map[string]any{"ok": false}, wantError: "bitmask"},
		{name: "create with a bad time of day", topic: "invite/create",
			payload: `{"email":"x@example.com","smartlock_ids":[101],"allowed_until_time":"25:00"}`,
			want:    map[string]any{"ok": false}, wantError: "allowed_until_time"},
		{name: "create with a bad date", topic: "invite/create",
			payload: `{"email":"x@example.com","smartlock_ids":[101],"allowed_from":"tomorrow"}`,
			want:    map[string]any{"ok": false}, wantError: "RFC 3339"},
		{name: "create without payload", topic: "invite/create",
			want: map[string]any{"command": "create", "ok": false}, wantError: "needs a JSON payload"},
		{name: "create with bad JSON", topic: "invite/create", payload: `{"request_id":"c4","smartlock_ids":"all"}`,
			want: map[string]any{"command": "create", "ok": false, "request_id": "c4"}, wantError: "smartlock_ids must be a list of lock ids"},
	}
	// Limits: nothing a sender puts in comes back longer than a short
	// prefix, and nothing too long reaches the service.
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	ids := func(n int) string { return strings.TrimSuffix(long("7,", n), ",") }
	tests = append(tests, []struct {
		name      string
		topic     string
		payload   string
		want      map[string]any
		wantError string
		wantCall  string
	}{
		{name: "sync with a long request id", topic: "sync", payload: `{"request_id":"` + long("x", 1000) + `"}`,
			want: map[string]any{"command": "sync", "ok": false, "request_id": ""}, wantError: `request_id "` + long("x", 40) + `"… has 1000 characters; at most 128`},
		{name: "resend with a long request id", topic: "invite/101-201/resend", payload: `{"request_id":"` + long("x", 129) + `"}`,
			want: map[string]any{"command": "resend", "ok": false, "request_id": "", "invite_id": "101-201"}, wantError: "at most 128"},
		{name: "revoke with a long request id and bad JSON", topic: "invite/101-201/revoke", payload: `{"request_id":"` + long("x", 5000) + `","x":1}`,
			want: map[string]any{"command": "revoke", "ok": false, "request_id": ""}, wantError: `unknown field "x"`},
		{name: "sync with a 10 MB request id", topic: "sync", payload: `{"request_id":"` + long("x", 10<<20) + `"}`,
			want: map[string]any{"command": "sync", "ok": false, "request_id": ""}, wantError: "a command may have at most 65536"},
		{name: "resend with a 10 MB request id", topic: "invite/101-201/resend", payload: `{"request_id":"` + long("x", 10<<20) + `"}`,
			want: map[string]any{"command": "resend", "ok": false, "request_id": "", "invite_id": "101-201"}, wantError: "has 10485777 bytes"},
		{name: "create with a 10 MB request id", topic: "invite/create", payload: `{"request_id":"` + long("x", 10<<20) + `","email":"x@example.com","name":"X","smartlock_ids":[101]}`,
			want: map[string]any{"command": "create", "ok": false, "request_id": ""}, wantError: "at most 65536"},
		{name: "create with a long request id", topic: "invite/create", payload: `{"request_id":"` + long("x", 200) + `","email":"x@example.com","name":"X","smartlock_ids":[101]}`,
			want: map[string]any{"command": "create", "ok": false, "request_id": ""}, wantError: "request_id"},
		{name: "resend with a long delivery", topic: "invite/101-201/resend", payload: `{"request_id":"d1","delivery":"` + long("p", 1000) + `"}`,
			want: map[string]any{"ok": false, "request_id": "d1"}, wantError: `not "` + long("p", 40) + `"…`},
		{name: "resend with a long unknown field", topic: "invite/101-201/resend", payload: `{"request_id":"d2","` + long("k", 1000) + `":1}`,
			want: map[string]any{"ok": false, "request_id": "d2"}, wantError: `unknown field "` + long("k", 40) + `"…`},
		{name: "create with a long unknown field", topic: "invite/create", payload: `{"request_id":"c5","email":"x@example.com","` + long("k", 1000) + `":1}`,
			want: map[string]any{"ok": false, "request_id": "c5"}, wantError: `unknown field "` + long("k", 40) + `"…`},
		{name: "create with a long weekday", topic: "invite/create",
			payload: `{"request_id":"c6","email":"x@example.com","name":"X","smartlock_ids":[101],"allowed_weekdays":["` + long("d", 30000) + `"]}`,
			want:    map[string]any{"ok": false, "request_id": "c6"}, wantError: `allowed_weekdays: "` + long("d", 40) + `"… is not one of mon`},
		{name: "create with too many weekdays", topic: "invite/create",
			payload: `{"request_id":"c7","email":"x@example.com","name":"X","smartlock_ids":[101],"allowed_weekdays":[` + strings.TrimSuffix(long(`"mon",`, 5000), ",") + `]}`,
			want:    map[string]any{"ok": false, "request_id": "c7"}, wantError: "allowed_weekdays lists more than 7 days"},
		{name: "create with a long email", topic: "invite/create",
			payload: `{"request_id":"c8","email":"` + long("e", 300) + `@example.com","name":"X","smartlock_ids":[101]}`,
			want:    map[string]any{"ok": false, "request_id": "c8"}, wantError: "email \"" + long("e", 40) + "\"… has 312 characters; at most 254"},
		{name: "create with a long name and language", topic: "invite/create",
			payload: `{"email":"x@example.com","name":"` + long("ö", 101) + `","language":"` + long("l", 17) + `","smartlock_ids":[101]}`,
			want:    map[string]any{"ok": false}, wantError: "name \"" + long("ö", 40) + "\"… has 101 characters; at most 100 are allowed; language"},
		{name: "create with 201 locks", topic: "invite/create",
			payload: `{"request_id":"c9","email":"x@example.com","name":"X","smartlock_ids":[` + ids(201) + `]}`,
			want:    map[string]any{"ok": false, "request_id": "c9"}, wantError: "smartlock_ids names more than 200 locks; at most 200 are allowed per request"},
		{name: "create with 30,000 locks", topic: "invite/create",
			payload: `{"email":"x@example.com","name":"X","smartlock_ids":[` + ids(30000) + `]}`,
			want:    map[string]any{"ok": false}, wantError: "more than 200 locks"},
		{name: "create with a million locks", topic: "invite/create",
			payload: `{"email":"x@example.com","name":"X","smartlock_ids":[` + ids(1000000) + `]}`,
			want:    map[string]any{"ok": false}, wantError: "a command may have at most 65536"},
		{name: "revoke with a long invitation id", topic: "invite/" + long("1", 1000) + "/revoke",
			want: map[string]any{"command": "revoke", "ok": false, "invite_id": ""}, wantError: `"` + long("1", 40) + `"… is not an invitation id`},
		{name: "a long unknown sub-command", topic: "invite/101-201/" + long("c", 1000) + "/x",
			want: map[string]any{"command": long("c", 40) + "…", "ok": false, "invite_id": "101-201"}, wantError: `unknown command "` + long("c", 40) + `"…`},
	}...)
	var results []mqtttest.Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := len(h.svc.Calls())
			w.Reset()
			w.Publish(h.topic(tc.topic), []byte(tc.payload), false)
			msg := w.WaitFor(wait, "a result", func(m mqtttest.Message) bool { return m.Topic == h.topic("result") })
			results = append(results, msg)
			if msg.Retained {
				t.Errorf("the result is retained")
			}
			if len(msg.Payload) > 1024 {
				t.Fatalf("the result has %d bytes, want at most 1024: %.300s…", len(msg.Payload), msg.Payload)
			}
			res := decode(t, msg.Payload)
			for k, v := range tc.want {
				if !jsonEqual(res[k], v) {
					t.Errorf("result %s = %v, want %v (%s)", k, res[k], v, msg.Payload)
				}
			}
			for _, k := range []string{"request_id", "command", "invite_id", "ok", "error"} {
				if _, ok := res[k]; !ok {
					t.Errorf("result has no %q: %s", k, msg.Payload)
				}
			}
			errText, _ := res["error"].(string)
			if tc.wantError == "" && errText != "" || !strings.Contains(errText, tc.wantError) {
				t.Errorf("error = %q, want it to contain %q", errText, tc.wantError)
			}
			got := h.svc.Calls()[calls:]
			switch {
			case tc.wantCall == "" && len(got) > 0:
				t.Errorf("service calls %q, want none", got)
			case tc.wantCall != "" && !slices.Equal(got, []string{tc.wantCall}):
				t.Errorf("service calls %q, want [%q]", got, tc.wantCall)
			}
		})
	}

	t.Run("log lines stay short", func(t *testing.T) {
		for line := range strings.Lines(h.logs.String()) {
			if len(line) > 2048 {
				t.Errorf("a log line has %d bytes: %.300s…", len(line), line)
			}
		}
	})

	t.Run("create makes what was asked", func(t *testing.T) {
		invs := h.svc.Invitations(bridge.Filter{Text: "new@example.com"})
		if len(invs) != 2 {
			t.Fatalf("%d invitations for new@example.com, want one per lock", len(invs))
		}
		want := bridge.Access{From: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), WeekDays: 64 | 4, FromTime: 510, UntilTime: 1080}
		var ids []any
		for _, inv := range invs {
			ids = append(ids, string(inv.ID))
			full := h.invitation(inv.ID)
			if !inv.Access.Equal(want) || inv.Name != "New" || full.History[0].Actor != "mqtt" {
				t.Errorf("%s: access %+v, name %q, made by %q; want access %+v, New, by mqtt", inv.ID, inv.Access, inv.Name, full.History[0].Actor, want)
			}
		}
		slices.SortFunc(ids, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
		var answered []any
		for _, m := range results {
			if r := decode(t, m.Payload); r["request_id"] == "c1" {
				answered, _ = r["invite_ids"].([]any)
			}
		}
		if !jsonEqual(answered, ids) {
			t.Errorf("the create answered invite_ids %v, want the invitations made, %v", answered, ids)
		}
		if mask := h.svc.Invitations(bridge.Filter{Text: "mask@example.com"}); len(mask) != 1 || mask[0].Access.WeekDays != 65 {
			t.Errorf("the create with a weekday bitmask made %+v, want one invitation on weekdays 65", mask)
		}
	})
}

// TestCodeCommand asks for Alice's invite code with codes exposed: it
// travels once, on the code topic, not retained.
func TestCodeCommand(t *testing.T) {
	h := newHarnessWith(t, mqtttest.Broker(t), bridge.Options{ExposeCodes: true}, fixture(t0)...)
	w := h.watch(h.topic("result"), h.topic("availability"), h.topic("invite/+/code"))
	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")

	w.Publish(h.topic("invite/101-201/code/get"), []byte(`{"request_id":"r5"}`), false)
	res := decode(t, w.WaitFor(wait, "a result", live(h.topic("result"))).Payload)
	for k, v := range map[string]any{"command": "code/get", "ok": true, "request_id": "r5", "invite_id": "101-201", "error": ""} {
		if res[k] != v {
			t.Errorf("result %s = %v, want %v", k, res[k], v)
		}
	}
	codes := w.On(h.topic("invite/101-201/code"))
	if len(codes) != 1 {
		t.Fatalf("%d code messages, want one: %v", len(codes), codes)
	}
	c := decode(t, codes[0].Payload)
	if c["invite_id"] != "101-201" || c["code"] != "482913675" || c["expires_at"] != "2026-03-03T10:00:00Z" {
		t.Errorf("code message = %s", codes[0].Payload)
	}
	if r := mqtttest.Retained(t, h.url, h.topic("invite/+/code")); len(r) != 0 {
		t.Errorf("a code is retained: %v", r)
	}
	if calls := h.svc.Calls(); !slices.Equal(calls, []string{"code 101-201 mqtt"}) {
		t.Errorf("service calls %q", calls)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestButtonsFromDiscovery presses the buttons as Home Assistant would: the
// command topic and payload come from the discovery message.
func TestButtonsFromDiscovery(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("result"), h.topic("bridge/state"))
	h.start()
	w.WaitFor(wait, "the bridge state", live(h.topic("bridge/state")))
	retained := mqtttest.Retained(t, h.url, h.prefix+"/device/+/config")

	press := func(device, button string) string {
		cfg := decode(t, retained[h.discoveryTopic(device)])
		c := cfg["cmps"].(map[string]any)[button].(map[string]any)
		w.Reset()
		w.Publish(c["command_topic"].(string), []byte(c["payload_press"].(string)), false)
		return string(w.WaitFor(wait, "a result", live(h.topic("result"))).Payload)
	}
	for _, tc := range []struct{ device, button, want, call string }{
		{"bridge", "sync_now", `"command":"sync"`, "sync"},
		{"invite_101_201", "resend", `"command":"resend","invite_id":"101-201","ok":true`, "resend 101-201  mqtt"},
		{"invite_102_204", "revoke", `"command":"revoke","invite_id":"102-204","ok":true`, "revoke 102-204 mqtt"},
	} {
		t.Run(tc.device+" "+tc.button, func(t *testing.T) {
			if got := press(tc.device, tc.button); !strings.Contains(got, tc.want) {
				t.Errorf("result %s, want %s", got, tc.want)
			}
			if calls := h.svc.Calls(); calls[len(calls)-1] != tc.call {
				t.Errorf("last call %q, want %q", calls[len(calls)-1], tc.call)
			}
		})
	}
}

// TestARefusedCommandReachesTheEventEntity: Home Assistant's buttons see no
// result topic, so a refusal is also an event of the bridge's event entity.
func TestARefusedCommandReachesTheEventEntity(t *testing.T) {
	h := newHarness(t, mqtttest.Broker(t), fixture(t0)...)
	w := h.watch(h.topic("event"), h.topic("availability"))
	h.start()
	w.WaitPayload(wait, h.topic("availability"), "online")
	w.Reset()
	w.Publish(h.topic("invite/101-999/revoke"), []byte("PRESS"), false)
	msg := w.WaitFor(wait, "a refusal event", func(m mqtttest.Message) bool {
		return m.Topic == h.topic("event") && strings.Contains(string(m.Payload), `"command_refused"`)
	})
	ev := decode(t, msg.Payload)
	if ev["command"] != "revoke" || ev["invite_id"] != "101-999" || !strings.Contains(fmt.Sprint(ev["error"]), "no invitation") || msg.Retained {
		t.Errorf("refusal event %s (retained %v)", msg.Payload, msg.Retained)
	}
}
