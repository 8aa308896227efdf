package mqtt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// refusingService validates what reaches it and refuses everything, so the
// fuzzer exercises the command parsers without an MQTT connection.
type refusingService struct{}

func (refusingService) Invitations(bridge.Filter) []bridge.Invitation         { return nil }
func (refusingService) InvitationIDs() []bridge.InviteID                      { return nil }
func (refusingService) InvitationsByID([]bridge.InviteID) []bridge.Invitation { return nil }
func (refusingService) Locks() []bridge.Lock                                  { return nil }
func (refusingService) SyncState() bridge.SyncState                           { return bridge.SyncState{} }
func (refusingService) RequestSync()                                          {}
func (refusingService) ConfirmHeldSync() error                                { return bridge.ErrConflict }

func (refusingService) Create(_ context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error) {
	if r.Actor != Actor {
		return nil, fmt.Errorf("actor %q", r.Actor)
	}
	if len(r.SmartlockIDs) > maxLocks || len(r.RequestID) > maxRequestID {
		panic(fmt.Sprintf("a create over the limits reached the service: %d locks, request_id of %d bytes", len(r.SmartlockIDs), len(r.RequestID)))
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

func (refusingService) UnmanagedKeypadCodes() []bridge.Auth { return nil }

func (refusingService) AdoptKeypadCode(_ context.Context, _ int64, authID, actor string) (bridge.Invitation, error) {
	if actor != Actor {
		return bridge.Invitation{}, fmt.Errorf("actor %q", actor)
	}
	if len(authID) > maxAuthID {
		panic(fmt.Sprintf("an auth_id of %d bytes reached the service", len(authID)))
	}
	return bridge.Invitation{}, bridge.ErrNotFound
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
		{"keypad/adopt", `{"request_id":"k","smartlock_id":101,"auth_id":"65f0c0ffee0000000000abcd"}`},
		{"keypad/adopt", `{"smartlock_id":"101","auth_id":7}`}, {"keypad/adopt", "PRESS"},
		{"keypad/adopt", `{"smartlock_id":1,"auth_id":"` + strings.Repeat("a", 300) + `","request_id":"` + strings.Repeat("r", 300) + `"}`},
		{"sync", `{"request_id":"` + strings.Repeat("r", 300) + `"}`},
		{"invite/100-5/resend", `{"request_id":"` + strings.Repeat("r", 300) + `","delivery":"` + strings.Repeat("d", 300) + `"}`},
		{"invite/100-5/revoke", `{"` + strings.Repeat("k", 300) + `":1,"request_id":"` + strings.Repeat("r", 300) + `"}`},
		{"invite/" + strings.Repeat("9", 300) + "/resend", ""},
		{"invite/100-5/" + strings.Repeat("c", 300) + "/get", ""},
		{"invite/create", `{"request_id":"` + strings.Repeat("r", 300) + `","email":"` + strings.Repeat("e", 300) + `"}`},
		{"invite/create", `{"allowed_weekdays":["` + strings.Repeat("w", 300) + `"],"language":"` + strings.Repeat("l", 300) + `"}`},
		{"invite/create", `{"Smartlock_IDS":[` + strings.Repeat("1,", 300) + `1],"email":"a@example.com","name":"A"}`},
		{"invite/create", `{"REQUEST_ID":"` + strings.Repeat("r", 300) + `","` + strings.Repeat("k", 300) + `":1}`},
		{"invite/create", `{"request_id":"a","smartlock_ids":[1,2,3],"email":"a@example.com","name":"A","allowed_until":"` + strings.Repeat("9", 300) + `"}`},
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
		// Nothing comes back longer than its limit, whatever came in.
		if len(r.RequestID) > maxRequestID ||
			len(r.InviteID) > maxInviteID || utf8.RuneCountInString(r.Command) > quoteLen+1 ||
			utf8.RuneCountInString(r.Error) > maxError+len("refused: ")+1 {
			t.Fatalf("%.100q %.100q: the answer is too long: request_id %d, invite_id %d, command %d, error %d bytes",
				topic, payload, len(r.RequestID), len(r.InviteID), len(r.Command), len(r.Error))
		}
	})
}
