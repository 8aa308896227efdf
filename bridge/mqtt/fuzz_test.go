package mqtt

import (
	"context"
	"fmt"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// refusingService validates what reaches it and refuses everything, so the
// fuzzer exercises the command parsers without an MQTT connection.
type refusingService struct{}

func (refusingService) Invitations(bridge.Filter) []bridge.Invitation { return nil }
func (refusingService) SyncState() bridge.SyncState                   { return bridge.SyncState{} }
func (refusingService) RequestSync()                                  {}

func (refusingService) Create(_ context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error) {
	if r.Actor != Actor {
		return nil, fmt.Errorf("actor %q", r.Actor)
	}
	return nil, fmt.Errorf("%w: refused", bridge.ErrInvalid)
}

func (refusingService) Resend(context.Context, bridge.InviteID, bridge.ResendOptions) (bridge.Invitation, error) {
	return bridge.Invitation{}, bridge.ErrNotFound
}

func (refusingService) Revoke(context.Context, bridge.InviteID, string) (bridge.Invitation, error) {
	return bridge.Invitation{}, bridge.ErrNotFound
}

func (refusingService) RevealCode(context.Context, bridge.InviteID, string) (bridge.Code, error) {
	return bridge.Code{}, bridge.ErrDisabled
}

// FuzzCommand feeds arbitrary command topics and payloads to the command
// parser: it must never panic, and every command gets exactly one answer that
// is either ok or carries an error.
func FuzzCommand(f *testing.F) {
	for _, seed := range []struct{ topic, payload string }{
		{"sync", ""}, {"sync", `{"request_id":"r1"}`}, {"sync", "{"},
		{"invite/create", `{"request_id":"a","email":"a@example.com","name":"A","smartlock_ids":[1],"delivery":"custom",` +
			`"allowed_from":"2026-11-26T10:00:00Z","allowed_until":"2026-12-01T10:00:00+01:00","allowed_weekdays":["mon","sun"],` +
			`"allowed_from_time":"08:00","allowed_until_time":"18:30"}`},
		{"invite/create", `{"allowed_weekdays":127,"allowed_from_time":"25:00"}`},
		{"invite/create", `[]`},
		{"invite/100-5/resend", `{"delivery":"custom"}`}, {"invite/100-5/resend", `{"force":true,"request_id":"f"}`},
		{"invite/100-5/revoke", `{"force":1}`}, {"invite/100-5/revoke", ""},
		{"invite/100-5/code/get", ""}, {"invite/x/resend", ""}, {"invite/100-5/code/set", "1"},
	} {
		f.Add(seed.topic, []byte(seed.payload))
	}
	b := New(refusingService{}, nil, Options{BaseTopic: "fz"})
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		r := b.execute(context.Background(), command{topic: "fz/" + topic, payload: payload})
		if r.OK {
			if topic != "sync" {
				t.Fatalf("%q %q was accepted by a service that refuses everything", topic, payload)
			}
			return
		}
		if r.Error == "" {
			t.Fatalf("%q %q: refused without a reason", topic, payload)
		}
	})
}
