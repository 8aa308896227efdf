package blueprints_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// contextID is a Home Assistant context id (a ULID) for one script run.
const contextID = "01JV8Q4Z6W3T2M5N7P9R1S3U5X"

// inviteConfig is the invite script as a user with two locks has it.
func inviteConfig(t *testing.T) map[string]any {
	t.Helper()
	return load(t, inviteScript).substitute(t, map[string]any{"lock_ids": []any{"17000000001", "17000000002"}})
}

// decodeCreate decodes a payload as the daemon does and runs its checks.
func decodeCreate(payload []byte) (bridge.CreateRequest, error) {
	var r bridge.CreateRequest
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, err
	}
	return r, r.Check()
}

// TestInvitePayloadPassesTheDaemonsChecks renders the script for the ways a
// user fills it in and decodes what it publishes with the daemon's own
// decoder and checks.
func TestInvitePayloadPassesTheDaemonsChecks(t *testing.T) {
	local := berlin(t)
	cfg := inviteConfig(t)
	tests := []struct {
		name   string
		fields map[string]any
		want   bridge.CreateRequest // after Check
	}{{
		name:   "only what is required",
		fields: map[string]any{"name": "Alice Martin", "email": "alice@example.com", "locks": []any{"17000000001"}},
		want: bridge.CreateRequest{RequestID: contextID + "-alice_martin-17000000001", Email: "alice@example.com",
			Name: "Alice Martin", Language: "en", SmartlockIDs: []int64{17000000001}, Delivery: bridge.DeliveryNuki},
	}, {
		name: "everything, in summer time",
		fields: map[string]any{
			"name": "Alice Martin", "email": "alice@example.com", "locks": []any{"17000000001", "17000000002"},
			"language": "de", "delivery": "custom", "remote_allowed": true,
			"allowed_from": "2026-05-01 15:00:00", "allowed_until": "2026-05-08 11:00:00",
			"weekdays": []any{"mon", "tue", "wed", "thu", "fri"}, "from_time": "08:00:00", "until_time": "20:30:00",
		},
		want: bridge.CreateRequest{RequestID: contextID + "-alice_martin-17000000001-17000000002", Email: "alice@example.com",
			Name: "Alice Martin", Language: "de", SmartlockIDs: []int64{17000000001, 17000000002}, Delivery: bridge.DeliveryCustom,
			RemoteAllowed: true, Access: bridge.Access{
				From: time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC), Until: time.Date(2026, 5, 8, 9, 0, 0, 0, time.UTC),
				WeekDays: 64 | 32 | 16 | 8 | 4, FromTime: 8 * 60, UntilTime: 20*60 + 30,
			}},
	}, {
		name: "a window in winter time, weekends",
		fields: map[string]any{
			"name": "Bob", "email": "bob@example.com", "locks": []any{"17000000002"},
			"allowed_from": "2026-12-19 10:00:00", "weekdays": []any{"sat", "sun"},
		},
		want: bridge.CreateRequest{RequestID: contextID + "-bob-17000000002", Email: "bob@example.com", Name: "Bob",
			Language: "en", SmartlockIDs: []int64{17000000002}, Delivery: bridge.DeliveryNuki,
			Access: bridge.Access{From: time.Date(2026, 12, 19, 9, 0, 0, 0, time.UTC), WeekDays: 2 | 1}},
	}, {
		name: "a name beyond ASCII and quotes",
		fields: map[string]any{"name": `Zoë "Zo" Müller`, "email": "zoe@example.com", "locks": []any{"17000000001"},
			"delivery": "nuki", "remote_allowed": false},
		want: bridge.CreateRequest{RequestID: contextID + "-zoe_zo_muller-17000000001", Email: "zoe@example.com",
			Name: `Zoë "Zo" Müller`, Language: "en", SmartlockIDs: []int64{17000000001}, Delivery: bridge.DeliveryNuki},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := runInvite(cfg, tt.fields, contextID, local)
			if err != nil {
				t.Fatal(err)
			}
			if p.Topic != "nuki_invites/invite/create" || p.QoS != 1 || p.Retain {
				t.Errorf("published on %s qos %d retain %t, want nuki_invites/invite/create, qos 1, not retained", p.Topic, p.QoS, p.Retain)
			}
			got, err := decodeCreate(p.Payload)
			if err != nil {
				t.Fatalf("the daemon refuses the payload: %v\n%s", err, p.Payload)
			}
			if !equalCreate(got, tt.want) {
				t.Errorf("the daemon reads\n%+v\nwant\n%+v\nfrom\n%s", got, tt.want, p.Payload)
			}
		})
	}
}

func equalCreate(a, b bridge.CreateRequest) bool {
	return a.RequestID == b.RequestID && a.Email == b.Email && a.Name == b.Name && a.Language == b.Language &&
		slices.Equal(a.SmartlockIDs, b.SmartlockIDs) && a.Delivery == b.Delivery && a.RemoteAllowed == b.RemoteAllowed &&
		a.Access.From.Equal(b.Access.From) && a.Access.Until.Equal(b.Access.Until) && a.Access.WeekDays == b.Access.WeekDays &&
		a.Access.FromTime == b.Access.FromTime && a.Access.UntilTime == b.Access.UntilTime
}

// TestInvitePayloadBadValuesAreRefused renders the script with values a
// caller (an automation, a service call in YAML) may pass that the form
// would not allow: the payload still renders, and the daemon refuses it
// with the reason.
func TestInvitePayloadBadValuesAreRefused(t *testing.T) {
	local := berlin(t)
	cfg := inviteConfig(t)
	good := func() map[string]any {
		return map[string]any{"name": "Alice", "email": "alice@example.com", "locks": []any{"17000000001"}}
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"no e-mail", func(f map[string]any) { delete(f, "email") }, "email is required"},
		{"not an e-mail address", func(f map[string]any) { f["email"] = "alice at home" }, "is not an email address"},
		{"no name", func(f map[string]any) { delete(f, "name") }, "name is required"},
		{"no lock", func(f map[string]any) { delete(f, "locks") }, "smartlock_ids must name at least one lock"},
		{"a lock by its name", func(f map[string]any) { f["locks"] = []any{"Front door"} }, "0 is not a lock id"},
		{"the same lock twice", func(f map[string]any) { f["locks"] = []any{"17000000001", "17000000001"} }, "listed twice"},
		{"an unknown language", func(f map[string]any) { f["language"] = "pt" }, `language "pt" is not one of`},
		{"an unknown delivery", func(f map[string]any) { f["delivery"] = "post" }, `delivery "post" must be`},
		{"until before from", func(f map[string]any) {
			f["allowed_from"], f["allowed_until"] = "2026-05-08 11:00:00", "2026-05-01 15:00:00"
		}, "allowed_until must be after allowed_from"},
		{"daily until before from", func(f map[string]any) {
			f["from_time"], f["until_time"] = "20:00:00", "08:00:00"
		}, "allowed_until_time must be later in the day"},
		{"an unknown weekday", func(f map[string]any) { f["weekdays"] = []any{"mon", "someday"} }, `"someday" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := good()
			tt.change(fields)
			p, err := runInvite(cfg, fields, contextID, local)
			if err != nil {
				t.Fatalf("the script does not render: %v", err)
			}
			_, err = decodeCreate(p.Payload)
			if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("the daemon answers %v, want an ErrInvalid saying %q\npayload:\n%s", err, tt.want, p.Payload)
			}
		})
	}
	p, err := runInvite(cfg, good(), contextID, local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCreate(p.Payload); err != nil {
		t.Errorf("the unchanged fields are refused: %v", err)
	}
}

// TestInviteRequestID checks what makes a repeated run harmless: the same
// run for the same guest and locks sends the same request id; another run,
// guest or lock a different one; and it stays within the daemon's limit.
func TestInviteRequestID(t *testing.T) {
	local := berlin(t)
	cfg := inviteConfig(t)
	id := func(ctx string, fields map[string]any) string {
		t.Helper()
		p, err := runInvite(cfg, fields, ctx, local)
		if err != nil {
			t.Fatal(err)
		}
		r, err := decodeCreate(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return r.RequestID
	}
	alice := map[string]any{"name": "Alice", "email": "alice@example.com", "locks": []any{"17000000001"}}
	bob := map[string]any{"name": "Bob", "email": "bob@example.com", "locks": []any{"17000000001"}}
	aliceGarage := map[string]any{"name": "Alice", "email": "alice@example.com", "locks": []any{"17000000002"}}
	first := id(contextID, alice)
	if again := id(contextID, alice); again != first {
		t.Errorf("the same run renders request ids %s and %s", first, again)
	}
	if other := id("01JV8Q4Z6W3T2M5N7P9R1S3U5Y", alice); other == first {
		t.Errorf("another run has the same request id %s", other)
	}
	if other := id(contextID, bob); other == first {
		t.Errorf("another guest in the same run has the same request id %s", other)
	}
	if other := id(contextID, aliceGarage); other == first {
		t.Errorf("another lock in the same run has the same request id %s", other)
	}
	var many []any
	for i := range 40 {
		many = append(many, "170000000"+string(rune('1'+i/10))+string(rune('0'+i%10)))
	}
	long := id(contextID, map[string]any{"name": strings.Repeat("Ünïcode name ", 7), "email": "u@example.com", "locks": many})
	if len(long) > 128 {
		t.Errorf("request id of %d bytes, the daemon takes 128", len(long))
	}
}
