package bridge_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// keypadHarness runs the Service against the Nuki Web simulator, whose
// locks carry out writes at once, on a clock the test moves.
type keypadHarness struct {
	t      *testing.T
	clock  *bridgetest.Clock
	sim    *nukisim.Sim
	client *nukiweb.Client
	store  *memStore
	mail   *mailbox
	rec    *recorder
	opts   bridge.Options
	svc    *bridge.Service
	door   bridge.Lock // with a keypad
	garage bridge.Lock // without
}

func newKeypadHarness(t *testing.T, opts bridge.Options) *keypadHarness {
	t.Helper()
	h := &keypadHarness{t: t, clock: bridgetest.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)),
		store: newMemStore(), mail: &mailbox{}, opts: opts}
	h.sim = nukisim.New(nukisim.Options{Token: "sim-token", Instant: true, Now: h.clock.Now})
	t.Cleanup(h.sim.Close)
	srv := httptest.NewServer(h.sim)
	t.Cleanup(srv.Close)
	h.client = nukiweb.New(srv.URL, "sim-token", nukiweb.Options{Now: h.clock.Now})
	h.door = h.sim.AddLock(bridge.Lock{Name: "Front door"})
	if err := h.sim.SetKeypad(h.door.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	h.garage = h.sim.AddLock(bridge.Lock{Name: "Garage"})
	h.start()
	h.sync()
	return h
}

func (h *keypadHarness) start() {
	h.t.Helper()
	h.opts.Now = h.clock.Now
	h.svc = bridge.NewService(h.store, h.client, h.mail, h.opts)
	if err := h.svc.Open(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.rec = &recorder{}
	h.svc.Subscribe(h.rec)
}

func (h *keypadHarness) sync() {
	h.t.Helper()
	if err := h.svc.Sync(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *keypadHarness) tick() {
	h.t.Helper()
	if err := h.svc.Tick(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *keypadHarness) status(id bridge.InviteID) bridge.Status {
	h.t.Helper()
	inv, err := h.svc.Invitation(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv.Status
}

// keypadCodes returns the keypad codes the simulator lists on a lock.
func (h *keypadHarness) keypadCodes(lock int64) []bridge.Auth {
	var out []bridge.Auth
	for _, a := range h.sim.Auths() {
		if a.SmartlockID == lock && a.Type == bridge.AuthTypeKeypadCode {
			out = append(out, a)
		}
	}
	return out
}

func keypadRequest(locks []int64, from, until time.Time) bridge.CreateRequest {
	return bridge.CreateRequest{Kind: bridge.KindKeypad, Name: "Gustav", Email: "gustav@example.com", Language: "de",
		TimeZone: "Europe/Berlin", SmartlockIDs: locks, Access: bridge.Access{From: from, Until: until}, Actor: "test"}
}

// TestKeypadCodeLife follows a keypad code for a future window: created
// with a drawn code, e-mailed once a day before the window (also across a
// restart), scheduled, active, used, ended and deleted from Nuki after the
// grace; Home Assistant hears of each step.
func TestKeypadCodeLife(t *testing.T) {
	h := newKeypadHarness(t, bridge.Options{ExposeCodes: true})
	ctx := context.Background()
	now := h.clock.Now()
	from, until := now.Add(72*time.Hour), now.Add(96*time.Hour)
	invs, err := h.svc.Create(ctx, keypadRequest([]int64{h.door.ID}, from, until))
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Kind != bridge.KindKeypad || invs[0].Status != bridge.StatusSending {
		t.Fatalf("created %+v; want one keypad code, sending", invs)
	}
	id := invs[0].ID
	if _, user, err := bridge.ParseInviteID(string(id)); err != nil || user != 0 {
		t.Fatalf("id %s: user %d, %v", id, user, err)
	}
	listed := h.keypadCodes(h.door.ID)
	if len(listed) != 1 || bridge.CheckKeypadCode(listed[0].Code) != nil || listed[0].Name != "Gustav" ||
		!listed[0].Access.Until.Equal(until) {
		t.Fatalf("Nuki lists %+v; want Gustav's code with the window", listed)
	}
	code, err := h.svc.RevealCode(ctx, id, "test")
	if err != nil || code.Code != listed[0].Code {
		t.Fatalf("revealed code differs from the one on the lock (err %v)", err)
	}

	h.sync()
	if got := h.status(id); got != bridge.StatusScheduled {
		t.Fatalf("after the lock took it: %s, want scheduled", got)
	}
	h.tick()
	if len(h.mail.sent) != 0 {
		t.Fatalf("e-mailed %v three days before the window; want it 24 h before", h.mail.Kinds())
	}

	h.clock.Advance(48 * time.Hour)
	h.tick()
	h.tick()
	if got := h.mail.Kinds(); !slices.Equal(got, []string{"keypad_code:gustav@example.com"}) {
		t.Fatalf("e-mails a day before the window: %v; want one keypad_code", got)
	}
	msg := h.mail.sent[0]
	if msg.Code != listed[0].Code || msg.Language != "de" || msg.TimeZone != "Europe/Berlin" ||
		!msg.Access.From.Equal(from) || !msg.Access.Until.Equal(until) || msg.Lock != "Front door" {
		t.Errorf("the e-mail carries %+v", msg)
	}
	h.start() // a restart after the e-mail went out
	h.sync()
	h.tick()
	if n := len(h.mail.sent); n != 1 {
		t.Fatalf("%d e-mails after a restart; want still 1", n)
	}

	h.clock.Advance(24 * time.Hour)
	h.tick()
	if got := h.status(id); got != bridge.StatusActive {
		t.Fatalf("in the window: %s, want active", got)
	}
	if got := h.rec.take(); !slices.Contains(got, "window_opened:"+string(id)) {
		t.Errorf("events %v; want window_opened", got)
	}

	h.clock.Advance(time.Hour)
	if _, err := h.sim.EnterCode(h.door.ID, listed[0].Code.Reveal()); err != nil {
		t.Fatal(err)
	}
	h.sync()
	inv, _ := h.svc.Invitation(id)
	if inv.Status != bridge.StatusUsed || !inv.LastUsedAt.Equal(h.clock.Now()) {
		t.Fatalf("after the guest typed the code: %s, last used %s", inv.Status, inv.LastUsedAt)
	}
	if got := h.rec.take(); !slices.Contains(got, "code_used:"+string(id)) {
		t.Errorf("events %v; want code_used", got)
	}

	h.clock.Advance(24 * time.Hour)
	h.tick()
	if got := h.status(id); got != bridge.StatusEnded {
		t.Fatalf("after the window: %s, want ended", got)
	}
	if got := h.rec.take(); !slices.Contains(got, "window_ended:"+string(id)) {
		t.Errorf("events %v; want window_ended", got)
	}
	if st, _ := h.store.Load(ctx); st.Codes[id] != "" {
		t.Error("the store keeps the code of an ended keypad code")
	}
	if len(h.keypadCodes(h.door.ID)) != 1 {
		t.Fatal("the code was deleted from Nuki before the grace")
	}

	h.clock.Advance(24 * time.Hour)
	h.tick()
	h.tick()
	h.sync()
	h.sync()
	if got := h.keypadCodes(h.door.ID); len(got) != 0 {
		t.Fatalf("Nuki still lists %d keypad codes after the grace", len(got))
	}
	inv, _ = h.svc.Invitation(id)
	if inv.Status != bridge.StatusEnded || inv.CleanupAt.IsZero() {
		t.Fatalf("after the clean-up: %s, cleanup claimed %s; want ended", inv.Status, inv.CleanupAt)
	}
	deleted := 0
	for _, e := range inv.History {
		if e.Detail == "deleted the keypad code from Nuki Web" {
			deleted++
		}
	}
	if deleted != 1 {
		t.Errorf("the history tells the deletion %d times", deleted)
	}
}

// TestKeypadCreateRefusals: what a keypad code needs is checked before Nuki
// Web is asked, in words that never quote a code.
func TestKeypadCreateRefusals(t *testing.T) {
	h := newKeypadHarness(t, bridge.Options{})
	ctx := context.Background()
	now := h.clock.Now()
	for _, tc := range []struct {
		name string
		edit func(*bridge.CreateRequest)
		want string
	}{
		{"lock without keypad", func(r *bridge.CreateRequest) { r.SmartlockIDs = []int64{h.door.ID, h.garage.ID} }, "(Garage) has no Nuki Keypad paired"},
		{"no end", func(r *bridge.CreateRequest) { r.Access.Until = time.Time{} }, "allowed_until is required for a keypad code"},
		{"ended window", func(r *bridge.CreateRequest) { r.Access = bridge.Access{Until: now.Add(-time.Hour)} }, "allowed_until is in the past"},
		{"code with 0", func(r *bridge.CreateRequest) { r.Code = "304567" }, "the keypad has no 0 key"},
		{"code starting with 12", func(r *bridge.CreateRequest) { r.Code = "123456" }, "start with 12"},
		{"short code", func(r *bridge.CreateRequest) { r.Code = "34567" }, "has 6 digits"},
		{"nuki delivery", func(r *bridge.CreateRequest) { r.Delivery = bridge.DeliveryNuki }, "delivery does not apply to keypad codes"},
		{"time zone", func(r *bridge.CreateRequest) { r.TimeZone = "Mars/Olympus" }, "time_zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := keypadRequest([]int64{h.door.ID}, now, now.Add(time.Hour))
			tc.edit(&r)
			_, err := h.svc.Create(ctx, r)
			if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want ErrInvalid saying %q", err, tc.want)
			}
			if !r.Code.IsZero() && strings.Contains(err.Error(), r.Code.Reveal()) {
				t.Errorf("the error quotes the code: %v", err)
			}
		})
	}
	if n := len(h.keypadCodes(h.door.ID)); n != 0 {
		t.Errorf("Nuki lists %d keypad codes after refused requests", n)
	}
	r := keypadRequest([]int64{h.door.ID}, now, now.Add(time.Hour))
	r.Email = ""
	if _, err := h.svc.Create(ctx, r); err != nil {
		t.Errorf("a keypad code without e-mail: %v", err)
	}
}

// TestKeypadCodesMadeElsewhere are listed as unmanaged, never taken on, and
// their digits are never given again.
func TestKeypadCodesMadeElsewhere(t *testing.T) {
	h := newKeypadHarness(t, bridge.Options{})
	ctx := context.Background()
	now := h.clock.Now()
	if _, err := h.sim.AddAuth(bridge.Auth{SmartlockID: h.door.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: "456789", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if invs := h.svc.Invitations(bridge.Filter{}); len(invs) != 0 {
		t.Fatalf("a code made elsewhere became %d accesses", len(invs))
	}
	foreign := h.svc.UnmanagedKeypadCodes()
	if len(foreign) != 1 || foreign[0].Name != "Cleaner" || !foreign[0].Code.IsZero() {
		t.Fatalf("unmanaged codes %+v; want Cleaner's, without its code", foreign)
	}
	r := keypadRequest([]int64{h.door.ID}, now, now.Add(time.Hour))
	r.Code = "456789"
	if _, err := h.svc.Create(ctx, r); !errors.Is(err, bridge.ErrConflict) || strings.Contains(err.Error(), "456789") {
		t.Fatalf("the cleaner's digits again: %v; want ErrConflict without the code", err)
	}
	r.Code = "987654"
	invs, err := h.svc.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := h.svc.UnmanagedKeypadCodes(); len(got) != 1 {
		t.Errorf("after our own code: %d unmanaged; want 1", len(got))
	}
	if got := h.status(invs[0].ID); got != bridge.StatusActive {
		t.Errorf("our code in its open window: %s, want active", got)
	}
	if _, err := h.svc.Resend(ctx, invs[0].ID, bridge.ResendOptions{}); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("re-send of a keypad code: %v; want ErrConflict", err)
	}
	if _, err := h.svc.Revoke(ctx, invs[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.sync()
	if got := h.keypadCodes(h.door.ID); len(got) != 1 || got[0].Name != "Cleaner" {
		t.Errorf("after the revoke Nuki lists %+v; want only the cleaner's", got)
	}
	if got := h.status(invs[0].ID); got != bridge.StatusRevoked {
		t.Errorf("revoked code: %s", got)
	}
}

// TestKeypadRequestJSON reads the keypad fields of a create request, and
// never quotes a code in its complaints.
func TestKeypadRequestJSON(t *testing.T) {
	var r bridge.CreateRequest
	err := r.UnmarshalJSON([]byte(`{"kind":"keypad","name":"Gustav","smartlock_ids":[7],"code":"345678",
		"time_zone":"Europe/Berlin","allowed_until":"2026-11-30T10:00:00+01:00"}`))
	if err != nil || r.Kind != bridge.KindKeypad || r.Code.Reveal() != "345678" || r.TimeZone != "Europe/Berlin" {
		t.Fatalf("decoded %+v, %v", r, err)
	}
	if err := r.Check(); err != nil {
		t.Errorf("a keypad code without e-mail: %v", err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"kind":"door","name":"G","email":"g@example.com","smartlock_ids":[7]}`, `kind "door" must be "app" or "keypad"`},
		{`{"name":"G","email":"g@example.com","smartlock_ids":[7],"code":"345678"}`, "code and time_zone apply to keypad codes only"},
		{`{"kind":"keypad","name":"G","smartlock_ids":[7],"code":345678}`, "code must be a string of six digits, not a JSON number"},
		{`{"kind":"keypad","name":"G","smartlock_ids":[7],"remote_allowed":true,"allowed_until":"2026-11-30T10:00:00Z"}`, "remote_allowed does not apply"},
	} {
		var r bridge.CreateRequest
		err := r.UnmarshalJSON([]byte(tc.body))
		if err == nil {
			err = r.Check()
		}
		if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "345678") {
			t.Errorf("%s: %v; want ErrInvalid saying %q, without the code", tc.body, err, tc.want)
		}
	}
}

// TestAdoptKeypadCode takes on a code made in the Nuki app: it gets the
// lifecycle of ours (used from the activity log, ended, deleted after the
// grace), its digits can be revealed, and it is no longer listed as made
// elsewhere. An unknown one is refused.
func TestAdoptKeypadCode(t *testing.T) {
	h := newKeypadHarness(t, bridge.Options{ExposeCodes: true})
	ctx := context.Background()
	now := h.clock.Now()
	until := now.Add(6 * time.Hour)
	if _, err := h.sim.AddAuth(bridge.Auth{SmartlockID: h.door.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: "456789", Enabled: true, Access: bridge.Access{From: now.Add(-time.Hour), Until: until}}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	foreign := h.svc.UnmanagedKeypadCodes()
	if len(foreign) != 1 {
		t.Fatalf("unmanaged codes %+v; want the cleaner's", foreign)
	}
	if _, err := h.svc.AdoptKeypadCode(ctx, h.door.ID, "no-such-code", "test"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("adopting an unknown code: %v; want ErrNotFound", err)
	}
	if _, err := h.svc.AdoptKeypadCode(ctx, h.garage.ID, foreign[0].ID, "test"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("adopting the code on the wrong lock: %v; want ErrNotFound", err)
	}
	inv, err := h.svc.AdoptKeypadCode(ctx, h.door.ID, foreign[0].ID, "web:alice")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Kind != bridge.KindKeypad || inv.Name != "Cleaner" || inv.LockName != "Front door" || !inv.Adopted ||
		inv.Status != bridge.StatusActive || !inv.Access.Until.Equal(until) {
		t.Fatalf("adopted %+v; want the cleaner's active keypad code on the front door", inv)
	}
	if got := h.svc.UnmanagedKeypadCodes(); len(got) != 0 {
		t.Errorf("still made elsewhere after adoption: %+v", got)
	}
	if code, err := h.svc.RevealCode(ctx, inv.ID, "test"); err != nil || code.Code.Reveal() != "456789" {
		t.Errorf("revealing the adopted code: %v", err)
	}

	h.sync()
	if got := h.svc.UnmanagedKeypadCodes(); len(got) != 0 {
		t.Errorf("the next sync lists it as made elsewhere again: %+v", got)
	}
	if invs := h.svc.Invitations(bridge.Filter{}); len(invs) != 1 {
		t.Fatalf("%d accesses after the sync; want the adopted one only", len(invs))
	}
	h.clock.Advance(time.Hour)
	if _, err := h.sim.EnterCode(h.door.ID, "456789"); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := h.status(inv.ID); got != bridge.StatusUsed {
		t.Errorf("after the cleaner typed the code: %s, want used", got)
	}
	h.clock.Advance(6 * time.Hour)
	h.tick()
	if got := h.status(inv.ID); got != bridge.StatusEnded {
		t.Errorf("after the window: %s, want ended", got)
	}
	h.clock.Advance(25 * time.Hour)
	h.tick()
	h.sync()
	if got := h.keypadCodes(h.door.ID); len(got) != 0 {
		t.Errorf("a day after the window Nuki still lists %+v", got)
	}
	if len(h.mail.sent) != 0 {
		t.Errorf("an adopted code was e-mailed: %v", h.mail.Kinds())
	}
}

// TestKeypadCodeOnTwoLocksIsMailedOnce: one code given for the front door
// and the garage goes out in one e-mail naming both, and each access
// records it; a restart sends nothing more.
func TestKeypadCodeOnTwoLocksIsMailedOnce(t *testing.T) {
	h := newKeypadHarness(t, bridge.Options{})
	if err := h.sim.SetKeypad(h.garage.ID, nukisim.Keypad1); err != nil {
		t.Fatal(err)
	}
	h.sync()
	now := h.clock.Now()
	invs, err := h.svc.Create(context.Background(), keypadRequest([]int64{h.door.ID, h.garage.ID}, now.Add(2*time.Hour), now.Add(26*time.Hour)))
	if err != nil || len(invs) != 2 {
		t.Fatalf("create on two locks: %v, %d accesses", err, len(invs))
	}
	h.sync()
	h.tick()
	h.start()
	h.sync()
	h.tick()
	if got := h.mail.Kinds(); !slices.Equal(got, []string{"keypad_code:gustav@example.com"}) {
		t.Fatalf("e-mails %v; want one keypad_code", got)
	}
	if lock := h.mail.sent[0].Lock; lock != "Front door, Garage" {
		t.Errorf("the e-mail names %q; want both locks", lock)
	}
	for _, inv := range invs {
		got, _ := h.svc.Invitation(inv.ID)
		var mailed bool
		for _, e := range got.History {
			mailed = mailed || e.Event == bridge.EventEmailed && strings.HasSuffix(e.Detail, " sent")
		}
		if !mailed {
			t.Errorf("%s (%s) does not record the e-mail", inv.ID, inv.LockName)
		}
	}
}
