package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// The tests in this file hold the daemon against Nuki Web as it behaves in
// the field (the simulator's default): writes carried out by the lock
// later, authId made by the lock, use seen in the activity log first, users
// that may not be paged. Each one is a promise users count on.

// field is the real core over real HTTP against the realistic simulator,
// with one clock for both.
type field struct {
	t     *testing.T
	clock *bridgetest.Clock
	*stack
}

func newField(t *testing.T, opts bridge.Options, simOpts nukisim.Options) *field {
	t.Helper()
	clock := bridgetest.NewClock(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	simOpts.Token, simOpts.Now = "test-token", clock.Now
	opts.Now = clock.Now
	f := &field{t: t, clock: clock}
	f.stack = newStack(t, filepath.Join(t.TempDir(), "db"), opts, nukisim.New(simOpts))
	return f
}

func (f *field) sync() {
	f.t.Helper()
	if err := f.svc.Sync(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *field) tick() {
	f.t.Helper()
	if err := f.svc.Tick(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *field) get(id bridge.InviteID) bridge.Invitation {
	f.t.Helper()
	inv, err := f.svc.Invitation(id)
	if err != nil {
		f.t.Fatal(err)
	}
	return inv
}

// invite seeds a lock and creates an invitation to it with Nuki's email;
// with confirm it lets the lock take it and syncs.
func (f *field) invite(confirm bool) bridge.Invitation {
	f.t.Helper()
	lock := f.sim.AddLock(bridge.Lock{Name: "Front door", Type: 4})
	f.sync()
	invs, err := f.svc.Create(context.Background(), bridge.CreateRequest{Email: "guest@example.com", Name: "Guest",
		SmartlockIDs: []int64{lock.ID}, Actor: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	if confirm {
		f.clock.Advance(5 * time.Second)
		f.sync()
		if got := f.get(invs[0].ID); got.Status != bridge.StatusPending {
			f.t.Fatalf("after the lock took it: %s, want pending", got.Status)
		}
	}
	return invs[0]
}

// 1. Nuki ignores offset and limit: the first sync still ends, with every user.
func TestFieldUsersThatAreNotPaged(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(map[bool]string{false: "paged", true: "not paged"}[ignore], func(t *testing.T) {
			f := newField(t, bridge.Options{}, nukisim.Options{IgnoreUserPaging: ignore})
			if _, err := f.sim.Seed(nukisim.SeedOptions{Locks: 2, Users: 250}); err != nil {
				t.Fatal(err)
			}
			f.sim.ResetCalls()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := f.svc.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if calls := f.sim.Calls(); calls > 8 {
				t.Errorf("the sync took %d calls, want a handful", calls)
			}
			st, err := f.store.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if users := len(st.Users); users != 250 {
				t.Errorf("%d users stored, want 250", users)
			}
		})
	}
}

// 2. The lock makes authId when it takes the authorization: not acceptance.
func TestFieldANewInvitationIsNotAcceptedByTheLocksAuthID(t *testing.T) {
	f := newField(t, bridge.Options{}, nukisim.Options{})
	inv := f.invite(true)
	auths := f.sim.AuthsFor(inv.AccountUserID)
	if len(auths) != 1 || auths[0].AuthID == 0 {
		t.Fatalf("the lock made no authId: %+v", auths)
	}
	f.clock.Advance(time.Hour)
	f.sync()
	if got := f.get(inv.ID); got.Status != bridge.StatusPending {
		t.Errorf("status %s (signal %q), want pending until the guest does something", got.Status, got.AcceptedSignal)
	}
}

// 3. A re-send while the lock is still deleting ends with one key and one email.
func TestFieldResendWaitsForTheLock(t *testing.T) {
	f := newField(t, bridge.Options{}, nukisim.Options{LockDelay: 30 * time.Second})
	inv := f.invite(false)
	f.clock.Advance(time.Minute)
	f.sync()
	f.clock.Advance(10 * time.Hour)

	got, err := f.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{Actor: "test"})
	if err != nil {
		t.Fatalf("re-send: %v", err)
	}
	if got.Status != bridge.StatusSending {
		t.Errorf("right after the re-send: %s, want sending", got.Status)
	}
	for range 6 {
		f.clock.Advance(10 * time.Second)
		f.sync()
		if err := f.svc.FollowUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got = f.get(inv.ID)
	if got.Status != bridge.StatusPending || got.ResendCount != 1 {
		t.Errorf("after the lock carried it out: %s, %d re-sends, error %q; want pending, 1", got.Status, got.ResendCount, got.LastError)
	}
	if auths := f.sim.AuthsFor(inv.AccountUserID); len(auths) != 1 || auths[0].ID == inv.AuthID {
		t.Errorf("authorizations %+v, want exactly one new one", auths)
	}
	if emails := f.sim.Emails(); len(emails) != 2 {
		t.Errorf("%d Nuki emails, want 2: the first sending and the re-send", len(emails))
	}
}

// 4. An invitation to an offline lock is not shown as sent; it fails in time.
func TestFieldAnOfflineLockNeverConfirms(t *testing.T) {
	f := newField(t, bridge.Options{ConfirmTimeout: time.Hour}, nukisim.Options{})
	lock := f.sim.AddLock(bridge.Lock{Name: "Cellar", Type: 4})
	if err := f.sim.SetOffline(lock.ID, true); err != nil {
		t.Fatal(err)
	}
	f.sync()
	invs, err := f.svc.Create(context.Background(), bridge.CreateRequest{Email: "guest@example.com", Name: "Guest",
		SmartlockIDs: []int64{lock.ID}})
	if err != nil {
		t.Fatalf("create: %v (Nuki takes writes to offline locks)", err)
	}
	f.clock.Advance(10 * time.Minute)
	f.sync()
	if got := f.get(invs[0].ID); got.Status != bridge.StatusSending {
		t.Errorf("while the lock is offline: %s, want sending", got.Status)
	}
	f.clock.Advance(time.Hour)
	f.tick()
	got := f.get(invs[0].ID)
	if got.Status != bridge.StatusFailed || !strings.Contains(got.LastError, "not confirmed") {
		t.Errorf("after the bound: %s %q, want failed with the reason", got.Status, got.LastError)
	}
	if len(f.sim.Emails()) != 0 {
		t.Errorf("Nuki emailed a guest about a key the lock never took")
	}
}

// 5. A guest who opened the door is accepted at once, from the activity log.
func TestFieldUseShowsInTheActivityLogFirst(t *testing.T) {
	f := newField(t, bridge.Options{}, nukisim.Options{})
	inv := f.invite(true)
	f.clock.Advance(2 * time.Hour)
	if _, err := f.sim.Use(inv.SmartlockID, inv.AccountUserID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	usedAt := f.clock.Now()
	f.clock.Advance(time.Minute)
	f.sync()
	got := f.get(inv.ID)
	if got.Status != bridge.StatusAccepted || got.AcceptedSignal != bridge.SignalActivityLog || !got.LastUsedAt.Equal(usedAt) {
		t.Errorf("%s by %q, last used %s; want accepted by activity_log, used at %s", got.Status, got.AcceptedSignal, got.LastUsedAt, usedAt)
	}
	if a := f.sim.AuthsFor(inv.AccountUserID)[0]; a.LockCount != 0 {
		t.Errorf("the simulator raised lockCount before the lock synced (%d)", a.LockCount)
	}
}

// 6. Automation never deletes the key of a guest who has used it.
func TestFieldAutomaticResendKeepsAUsedKey(t *testing.T) {
	f := newField(t, bridge.Options{AutoResendOnExpiry: true, AutoResendMax: 1}, nukisim.Options{})
	inv := f.invite(true)
	f.clock.Advance(47 * time.Hour)
	if _, err := f.sim.Use(inv.SmartlockID, inv.AccountUserID, bridge.ActionUnlatch); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour) // expired by the clock; the use is only in the log
	f.tick()
	f.clock.Advance(2 * time.Minute)
	f.tick()
	if auths := f.sim.AuthsFor(inv.AccountUserID); len(auths) != 1 || auths[0].ID != f.get(inv.ID).AuthID {
		t.Fatalf("the guest's working key was replaced: %+v", auths)
	}
	got := f.get(inv.ID)
	if got.Status != bridge.StatusAccepted || got.ResendCount != 0 {
		t.Errorf("%s with %d re-sends, want accepted and none", got.Status, got.ResendCount)
	}
}

// 7. A webhook Nuki delivers twice is answered 2xx both times.
func TestFieldARepeatedWebhookIsAnswered2xx(t *testing.T) {
	f := newField(t, bridge.Options{}, nukisim.Options{})
	inv := f.invite(true)
	secret := bridge.Secret("webhook-secret")
	h := nukiweb.NewWebhookHandler(secret, f.svc, nukiweb.WebhookOptions{})
	a := f.sim.AuthsFor(inv.AccountUserID)[0]
	body, err := json.Marshal(map[string]any{"feature": "DEVICE_AUTHS", "deleted": false,
		"smartlockAuth": map[string]any{"id": a.ID, "smartlockId": a.SmartlockID, "accountUserId": a.AccountUserID, "type": 0}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, signature string) int {
		req := httptest.NewRequest(http.MethodPost, "/webhook/nuki", bytes.NewReader(body))
		req.Header.Set(nukiweb.SignatureHeader, signature)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 2 {
		if code := post(body, nukiweb.Sign(secret, body)); code < 200 || code > 299 {
			t.Errorf("delivery %d answered %d, want 2xx", i+1, code)
		}
	}
	unknown := []byte(`{"type":"AuthCreation","requestId":"00000000-0000-4000-8000-000000000000","success":true,"detail":[]}`)
	if code := post(unknown, nukiweb.Sign(secret, unknown)); code < 200 || code > 299 {
		t.Errorf("an unknown request id answered %d, want 2xx", code)
	}
	if code := post(body, "00"+nukiweb.Sign(secret, body)[2:]); code != http.StatusUnauthorized {
		t.Errorf("a bad signature answered %d, want 401", code)
	}
}
