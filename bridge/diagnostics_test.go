package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// diagnosticsScenario lives through the core what a real account does: a
// Nuki invitation that is used and redeemed, a custom one with its code that
// is re-sent and revoked, one Nuki refuses with an error naming an e-mail,
// and a sync that fails with credentials in its error. It returns the
// harness and every personal or secret text the scenario used.
func diagnosticsScenario(t *testing.T) (*harness, []string) {
	t.Helper()
	ctx := context.Background()
	h := newHarness(t, bridge.Options{AdvancedAPI: true, ExposeCodes: true, AdminEmail: "desk@hotel-example.org"})
	create := func(name, email string, delivery bridge.Delivery, lock int64, actor string) bridge.Invitation {
		t.Helper()
		invs, err := h.svc.Create(ctx, bridge.CreateRequest{RequestID: "booking-" + name, Email: email, Name: name,
			SmartlockIDs: []int64{lock}, Delivery: delivery, Actor: actor})
		if err != nil && len(invs) == 0 {
			t.Fatal(err)
		}
		return invs[0]
	}
	complete := func(id bridge.InviteID, code bridge.Secret) {
		t.Helper()
		inv := h.get(id)
		authID, err := h.nuki.FindAuth(ctx, inv.SmartlockID, inv.AccountUserID)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.svc.HandleAuthCreation(ctx, bridge.AuthCreation{RequestID: inv.RequestID, Success: true,
			Results: []bridge.AuthCreationResult{{SmartlockID: inv.SmartlockID, Success: true, AuthID: authID.ID, Code: code}}}); err != nil {
			t.Fatal(err)
		}
	}

	alice := create("Alice Liddell", "alice.liddell@example.com", bridge.DeliveryNuki, 100, "web:bob")
	h.clock.Advance(time.Minute)
	h.sync()
	h.clock.Advance(time.Hour)
	h.nuki.use(t, 100, alice.AccountUserID)
	h.sync()
	h.clock.Advance(time.Hour)
	h.nuki.accept(t, 100, alice.AccountUserID)
	h.sync()

	zoe := create("Zoë Quartermaine", "zoe.q@mail.example.net", bridge.DeliveryCustom, 101, "mqtt")
	complete(zoe.ID, "918273645")
	h.sync()
	h.clock.Advance(time.Hour)
	if _, err := h.svc.RevealCode(ctx, zoe.ID, "web:bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Resend(ctx, zoe.ID, bridge.ResendOptions{Actor: "mqtt"}); err != nil {
		t.Fatal(err)
	}
	complete(zoe.ID, "564738291")
	h.sync()
	h.clock.Advance(time.Hour)
	if _, err := h.svc.Revoke(ctx, zoe.ID, "web:bob"); err != nil {
		t.Fatal(err)
	}

	h.nuki.refuse[101] = &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrInvalid, Status: 400,
		Description: "account user carol.n@example.com (id 123456789012) may not use Garage"}
	carol := create("Carol Nakamura", "carol.n@example.com", bridge.DeliveryNuki, 101, "scheduler")
	if got := h.get(carol.ID); got.Status != bridge.StatusFailed {
		t.Fatalf("carol's invitation is %s, want failed", got.Status)
	}

	h.nuki.fetchErr = errors.New(`Get "https://nuki:s3cr3t-pass@api.example.net/smartlock?token=tok-998877": alice.liddell@example.com`)
	if err := h.svc.Sync(ctx); err == nil {
		t.Fatal("the failing sync succeeded")
	}

	var secrets []string
	for _, inv := range []bridge.Invitation{alice, zoe, carol} {
		inv = h.get(inv.ID)
		secrets = append(secrets, inv.Name, inv.Email, inv.LockName, string(inv.ID))
		secrets = append(secrets, strings.Fields(inv.Name)...)
	}
	secrets = append(secrets, "desk@hotel-example.org", "bob", "918273645", "564738291", "123456789012",
		"s3cr3t-pass", "tok-998877", "booking-")
	for id := range h.nuki.created {
		secrets = append(secrets, id)
	}
	for id := range h.nuki.requests {
		secrets = append(secrets, id)
	}
	return h, secrets
}

func TestDiagnosticsHoldNothingPersonal(t *testing.T) {
	h, secrets := diagnosticsScenario(t)
	d := h.svc.Diagnostics(bridge.DiagnosticsInfo{Version: "1.2.3", Config: map[string]string{"SYNC_INTERVAL": "5m"}, Source: bridge.DiagnosticsFromDaemon})
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
			t.Errorf("the bundle holds %q", s)
		}
	}

	// The raw ids are short numbers here; a hash may contain their digits,
	// so every value but the hashes is searched for them as whole words.
	var raw []string
	for _, inv := range h.svc.Invitations(bridge.Filter{}) {
		raw = append(raw, strconv.FormatInt(inv.AccountUserID, 10), strconv.FormatInt(inv.SmartlockID, 10))
	}
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	walkStrings(doc, "", func(key, value string) {
		if key == "invite" || key == "lock" || key == "user" {
			if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(value) {
				t.Errorf("%s %q is no 12-digit hash", key, value)
			}
			return
		}
		for _, id := range raw {
			if regexp.MustCompile(`(^|[^0-9])` + id + `([^0-9]|$)`).MatchString(value) {
				t.Errorf("%s %q holds the raw id %s", key, value, id)
			}
		}
	})
	if t.Failed() {
		t.Logf("bundle:\n%s", text)
	}
}

// walkStrings calls f with every string in a decoded JSON document and the
// key it is under.
func walkStrings(v any, key string, f func(key, value string)) {
	switch v := v.(type) {
	case string:
		f(key, v)
	case []any:
		for _, x := range v {
			walkStrings(x, key, f)
		}
	case map[string]any:
		for k, x := range v {
			walkStrings(x, k, f)
		}
	}
}

func TestDiagnosticsShowEachTimeline(t *testing.T) {
	h, _ := diagnosticsScenario(t)
	d := h.svc.Diagnostics(bridge.DiagnosticsInfo{Version: "1.2.3", Config: map[string]string{"SYNC_INTERVAL": "5m"}, Source: bridge.DiagnosticsFromDaemon})
	if d.Version != "1.2.3" || d.Config["SYNC_INTERVAL"] != "5m" || d.Locks != 2 || len(d.Invitations) != 3 {
		t.Fatalf("bundle: version %q, config %v, %d locks, %d timelines", d.Version, d.Config, d.Locks, len(d.Invitations))
	}
	if d.Sync == nil || d.Sync.Status != bridge.SyncUnreachable || d.Sync.LastError == "" {
		t.Fatalf("sync %+v, want the failed sync and its error", d.Sync)
	}
	for _, want := range []string{`Get "https://<redacted>@api.example.net/smartlock?token=<redacted>"`, "<email>"} {
		if !strings.Contains(d.Sync.LastError, want) {
			t.Errorf("sync error %q lacks %q", d.Sync.LastError, want)
		}
	}

	events := func(tl bridge.DiagnosticsTimeline) []string {
		var out []string
		for _, e := range tl.History {
			out = append(out, string(e.Event)+"/"+e.Actor)
		}
		return out
	}
	detail := func(tl bridge.DiagnosticsTimeline, ev bridge.EventType, want string) {
		t.Helper()
		for _, e := range tl.History {
			if e.Event == ev && strings.Contains(e.Detail, want) {
				return
			}
		}
		t.Errorf("no %s entry with %q in %+v", ev, want, tl.History)
	}
	alice, zoe, carol := d.Invitations[0], d.Invitations[1], d.Invitations[2]

	want := []string{"created/web", "changed/", "evidence/sync", "sent/", "used/sync", "accepted/", "evidence/sync"}
	if got := events(alice); !slices.Equal(got, want) {
		t.Errorf("Alice's timeline %v, want %v", got, want)
	}
	if alice.Status != bridge.StatusAccepted || alice.AcceptedSignal != bridge.SignalActivityLog || alice.Delivery != bridge.DeliveryNuki ||
		alice.Send != 1 || alice.ConfirmedAt.IsZero() || alice.AcceptedAt.IsZero() || alice.LastUsedAt.IsZero() {
		t.Errorf("Alice: %+v", alice)
	}
	if alice.Nuki == nil || alice.Nuki.LockCount != 1 || !alice.Nuki.AppIDChanged || alice.Nuki.LastActiveDate.IsZero() {
		t.Errorf("Alice's authorization as Nuki listed it: %+v", alice.Nuki)
	}
	detail(alice, bridge.EventEvidence, "lockCount 0; lastActiveDate none; appId 0; authId 7; enabled true; error none; operationId none")
	detail(alice, bridge.EventEvidence, "lockCount 0 → 1; lastActiveDate none → 2026-11-26T11:01:00Z; appId 0 → 77")
	detail(alice, bridge.EventUsed, "unlock by app at 2026-11-26T10:01:00Z")

	want = []string{"created/mqtt", "changed/", "sent/", "code_ready/nuki", "emailed/", "evidence/sync", "code_revealed/web",
		"changed/mqtt", "changed/", "changed/", "changed/", "resent/", "sent/", "code_ready/nuki", "emailed/", "evidence/sync",
		"revoked/web"}
	if got := events(zoe); !slices.Equal(got, want) {
		t.Errorf("Zoë's timeline %v, want %v", got, want)
	}
	if zoe.Status != bridge.StatusRevoked || zoe.Delivery != bridge.DeliveryCustom || zoe.Send != 2 || zoe.ResendCount != 1 ||
		zoe.RevokedAt.IsZero() || zoe.HasCode {
		t.Errorf("Zoë: %+v", zoe)
	}

	if got := events(carol); !slices.Equal(got, []string{"created/scheduler", "failed/"}) {
		t.Errorf("Carol's timeline %v", got)
	}
	const reason = "account user <email> (id <number>) may not use <lock>"
	if carol.Status != bridge.StatusFailed || carol.LastError != reason {
		t.Errorf("Carol: status %s, error %q; want failed with %q", carol.Status, carol.LastError, reason)
	}
	detail(carol, bridge.EventFailed, "Nuki Web refused the authorization: "+reason)

	if alice.Lock == zoe.Lock || zoe.Lock != carol.Lock || alice.Invite == zoe.Invite {
		t.Errorf("hashes do not link: locks %s %s %s, invites %s %s", alice.Lock, zoe.Lock, carol.Lock, alice.Invite, zoe.Invite)
	}
	again := h.svc.Diagnostics(bridge.DiagnosticsInfo{})
	if again.Invitations[0].Invite == alice.Invite {
		t.Errorf("two bundles share the hash %s: the key must be new for each", alice.Invite)
	}
	if db := h.svc.Diagnostics(bridge.DiagnosticsInfo{Source: bridge.DiagnosticsFromDatabase}); db.Sync != nil {
		t.Errorf("a bundle made from a database has a sync state: %+v", db.Sync)
	}
}

func TestScrubbing(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.users[7] = bridge.User{ID: 7, Email: "jo@example.com", Name: "Jo Ann"}
	h.nuki.auths["a1"] = bridge.Auth{ID: "5f3a9c0e1b2d4e6f7a8b9c0d", SmartlockID: 100, AccountUserID: 7, Name: "Jo Ann"}
	h.sync()
	tests := []struct{ in, want string }{
		{"", ""},
		{"expires 2026-11-28T09:00:00Z", "expires 2026-11-28T09:00:00Z"},
		{"at 2026-11-28T09:00:00.123456789Z", "at 2026-11-28T09:00:00.123456789Z"},
		{"code 123456789, keypad 654321, pin 1234", "code <number>, keypad <number>, pin 1234"},
		{"mail to Jo@Example.com failed", "mail to <email> failed"},
		{"smtp://user:pa55@mail.example.net:587 refused", "smtp://<redacted>@mail.example.net:587 refused"},
		{"GET /x?api_key=abc&lang=de", "GET /x?api_key=<redacted>&lang=de"},
		{"Authorization: Bearer abc.def", "Authorization: Bearer <redacted>"},
		{"Jo Ann on Front door", "<guest> on <lock>"},
		{"front door, garage: Jo", "<lock>, <lock>: Jo"},
		{"Joanna is not Jo Ann", "Joanna is not <guest>"},
		{"Annette", "Annette"},
		{"auth 5f3a9c0e1b2d4e6f7a8b9c0d gone", "auth <auth> gone"},
		{"op 0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c", "op <id>"},
		{"op 123e4567-e89b-12d3-a456-426614174000", "op <id>"},
		{"invite 100-7 failed", "invite <invite> failed"},
	}
	for _, tt := range tests {
		d := h.svc.Diagnostics(bridge.DiagnosticsInfo{Config: map[string]string{"X": tt.in}})
		if got := d.Config["X"]; got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestActorKind(t *testing.T) {
	for actor, want := range map[string]string{"": "", "mqtt": "mqtt", "web": "web", "web:alice": "web", "scheduler": "scheduler",
		"sync": "sync", "nuki": "nuki", "demo": "other", "alice": "other"} {
		if got := bridge.ActorKind(actor); got != want {
			t.Errorf("ActorKind(%q) = %q, want %q", actor, got, want)
		}
	}
}
