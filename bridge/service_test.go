package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
)

type harness struct {
	t     *testing.T
	clock *bridgetest.Clock
	store *memStore
	nuki  *fakeNuki
	mail  *mailbox
	rec   *recorder
	opts  bridge.Options
	svc   *bridge.Service
}

func newHarness(t *testing.T, opts bridge.Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: bridgetest.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)), store: newMemStore(), mail: &mailbox{}, opts: opts}
	h.nuki = newFakeNuki(h.clock.Now, "Front door", "Garage")
	h.start()
	h.sync()
	return h
}

// start opens a new Service on the same store, as after a restart.
func (h *harness) start() {
	h.t.Helper()
	h.opts.Now = h.clock.Now
	h.svc = bridge.NewService(h.store, h.nuki, h.mail, h.opts)
	if err := h.svc.Open(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.rec = &recorder{}
	h.svc.Subscribe(h.rec)
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.svc.Sync(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.svc.Tick(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) create(delivery bridge.Delivery, locks ...int64) []bridge.Invitation {
	h.t.Helper()
	invs, err := h.svc.Create(context.Background(), bridge.CreateRequest{
		Email: "alice@example.com", Name: "Alice", Language: "de", SmartlockIDs: locks, Delivery: delivery, Actor: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return invs
}

func (h *harness) get(id bridge.InviteID) bridge.Invitation {
	h.t.Helper()
	inv, err := h.svc.Invitation(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

func TestStatusAt(t *testing.T) {
	sent := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	base := bridge.Invitation{SentAt: sent, ExpiresAt: sent.Add(48 * time.Hour)}
	at := func(d time.Duration) time.Time { return sent.Add(d) }
	tests := []struct {
		name string
		edit func(*bridge.Invitation)
		now  time.Time
		want bridge.Status
	}{
		{"fresh", nil, at(time.Hour), bridge.StatusPending},
		{"just before the reminder window", nil, at(36*time.Hour - time.Second), bridge.StatusPending},
		{"reminder window starts", nil, at(36 * time.Hour), bridge.StatusExpiringSoon},
		{"last second", nil, at(48*time.Hour - time.Second), bridge.StatusExpiringSoon},
		{"at expiry", nil, at(48 * time.Hour), bridge.StatusExpired},
		{"accepted wins over expiry", func(i *bridge.Invitation) { i.AcceptedAt = at(time.Hour) }, at(72 * time.Hour), bridge.StatusAccepted},
		{"failed", func(i *bridge.Invitation) { i.FailedAt = at(time.Minute) }, at(time.Hour), bridge.StatusFailed},
		{"failed wins over expiry", func(i *bridge.Invitation) { i.FailedAt = at(time.Minute) }, at(72 * time.Hour), bridge.StatusFailed},
		{"revoked wins over accepted", func(i *bridge.Invitation) { i.AcceptedAt, i.RevokedAt = at(time.Hour), at(2*time.Hour) }, at(3 * time.Hour), bridge.StatusRevoked},
		{"the lock has not confirmed yet", func(i *bridge.Invitation) { i.ExpiresAt = time.Time{} }, at(100 * time.Hour), bridge.StatusSending},
		{"a re-send under way", func(i *bridge.Invitation) { i.Replacing = true }, at(time.Hour), bridge.StatusSending},
		{"a re-send that failed", func(i *bridge.Invitation) { i.Replacing, i.FailedAt = true, at(time.Hour) }, at(2 * time.Hour), bridge.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := base
			if tt.edit != nil {
				tt.edit(&inv)
			}
			if got := inv.StatusAt(tt.now, 12*time.Hour); got != tt.want {
				t.Errorf("StatusAt = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseInviteID(t *testing.T) {
	for _, ok := range []string{"100-5001", "1-1", "100-k1", string(bridge.MakeKeypadID(17, 42))} {
		if _, _, err := bridge.ParseInviteID(ok); err != nil {
			t.Errorf("ParseInviteID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "100", "100-", "-5", "a-b", "100-5-1", "0-5", "1--5", "100-k", "100-k0", "100-kk1", "k1-5"} {
		if _, _, err := bridge.ParseInviteID(bad); !errors.Is(err, bridge.ErrInvalid) {
			t.Errorf("ParseInviteID(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSyncAdoptsAuthorizationsAndUnchangedSyncWritesNothing(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	created := h.clock.Now().Add(-10 * time.Hour)
	h.nuki.users[7] = bridge.User{ID: 7, Email: "bob@example.com", Name: "Bob"}
	h.nuki.auths["a1"] = bridge.Auth{ID: "a1", SmartlockID: 100, AccountUserID: 7, Type: 0, CreationDate: created}
	h.nuki.auths["kp"] = bridge.Auth{ID: "kp", SmartlockID: 100, AccountUserID: 7, Type: 13}
	h.sync()

	inv := h.get("100-7")
	if inv.Name != "Bob" || inv.Email != "bob@example.com" || inv.LockName != "Front door" || !inv.Adopted {
		t.Errorf("adopted invitation = %+v", inv)
	}
	if !inv.SentAt.Equal(created) || !inv.ExpiresAt.Equal(created.Add(48*time.Hour)) {
		t.Errorf("sent %s expires %s, want Nuki's creationDate %s + 48h", inv.SentAt, inv.ExpiresAt, created)
	}
	if inv.Status != bridge.StatusPending || inv.Delivery != bridge.DeliveryNuki {
		t.Errorf("status %s delivery %s", inv.Status, inv.Delivery)
	}
	if got := len(h.svc.Invitations(bridge.Filter{})); got != 1 {
		t.Errorf("%d invitations, want 1 (keypad codes are not invitations)", got)
	}
	if got := h.rec.take(); !slices.Equal(got, []string{"changed:100-7"}) {
		t.Errorf("adoption emitted %v, want only the state change", got)
	}

	commits := h.store.Commits()
	h.sync()
	if got := h.store.Commits() - commits; got != 0 {
		t.Errorf("unchanged sync wrote %d transactions", got)
	}
	if got := h.rec.take(); len(got) != 0 {
		t.Errorf("unchanged sync emitted %v", got)
	}
}

// TestInvitationsByID: a caller that goes through the invitations a few at a
// time sees every one once, in id order, with its current status and without
// its history; an id that names nothing is left out.
func TestInvitationsByID(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	for i, name := range []string{"Bob", "Carol", "Dave"} {
		id := int64(20 + i)
		h.nuki.users[id] = bridge.User{ID: id, Email: strings.ToLower(name) + "@example.com", Name: name}
		h.nuki.auths[fmt.Sprint("a", id)] = bridge.Auth{ID: fmt.Sprint("a", id), SmartlockID: 100, AccountUserID: id,
			CreationDate: h.clock.Now().Add(-47 * time.Hour)}
	}
	h.sync()

	ids := h.svc.InvitationIDs()
	if want := []bridge.InviteID{"100-20", "100-21", "100-22"}; !slices.Equal(ids, want) {
		t.Fatalf("InvitationIDs() = %v, want %v", ids, want)
	}
	got := h.svc.InvitationsByID([]bridge.InviteID{"100-22", "100-99", "100-20"})
	if len(got) != 2 || got[0].ID != "100-22" || got[1].ID != "100-20" {
		t.Fatalf("InvitationsByID gave %d invitations %v, want 100-22 then 100-20", len(got), got)
	}
	if got[0].Name != "Dave" || got[0].Status != bridge.StatusExpiringSoon || got[0].History != nil {
		t.Errorf("100-22: %s, status %s, %d history entries; want Dave, expiring_soon, none", got[0].Name, got[0].Status, len(got[0].History))
	}
	h.clock.Advance(2 * time.Hour)
	if st := h.svc.InvitationsByID([]bridge.InviteID{"100-21"})[0].Status; st != bridge.StatusExpired {
		t.Errorf("two hours later 100-21 is %s, want expired", st)
	}
}

func TestSyncAcceptanceSignals(t *testing.T) {
	tests := []struct {
		name   string
		change func(*bridge.Auth, time.Time)
		want   bridge.Signal
	}{
		{"lockCount", func(a *bridge.Auth, _ time.Time) { a.LockCount = 1 }, bridge.SignalLockCount},
		{"lastActiveDate", func(a *bridge.Auth, now time.Time) { a.LastActiveDate = now }, bridge.SignalLastActive},
		{"appId", func(a *bridge.Auth, _ time.Time) { a.AppID = 4711 }, bridge.SignalAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, bridge.Options{})
			inv := h.create(bridge.DeliveryNuki, 100)[0]
			h.sync()
			h.rec.take()
			h.clock.Advance(time.Hour)
			for id, a := range h.nuki.auths {
				tt.change(&a, h.clock.Now())
				h.nuki.auths[id] = a
			}
			h.sync()
			got := h.get(inv.ID)
			if got.Status != bridge.StatusAccepted || got.AcceptedSignal != tt.want {
				t.Errorf("status %s signal %q, want accepted by %s", got.Status, got.AcceptedSignal, tt.want)
			}
			if ev := h.rec.take(); !slices.Contains(ev, "accepted:"+string(inv.ID)) {
				t.Errorf("events %v lack accepted", ev)
			}
		})
	}
}

func TestSyncMarksDeletedAuthorizationRevoked(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	clear(h.nuki.auths)
	h.rec.take()
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending {
		t.Fatalf("after one sync without it: %s; one listing is not enough to call it deleted", got.Status)
	}
	h.sync()
	got := h.get(inv.ID)
	if got.Status != bridge.StatusRevoked {
		t.Fatalf("status %s, want revoked", got.Status)
	}
	if last := got.History[len(got.History)-1]; last.Event != bridge.EventRevoked || last.Actor != "sync" {
		t.Errorf("last history entry %+v", last)
	}
	if ev := h.rec.take(); !slices.Equal(ev, []string{"revoked:" + string(inv.ID)}) {
		t.Errorf("events %v", ev)
	}
}

func TestFailedSyncChangesNothingAndSaysWhy(t *testing.T) {
	tests := []struct {
		err  error
		want bridge.SyncStatus
	}{
		{&bridge.NukiError{Kind: bridge.ErrNukiUnauthorized, Status: 401}, bridge.SyncAuthError},
		{&bridge.NukiError{Kind: bridge.ErrNukiRateLimited, Status: 429}, bridge.SyncRateLimited},
		{&bridge.NukiError{Kind: bridge.ErrNukiUnavailable, Status: 503}, bridge.SyncUnreachable},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			h := newHarness(t, bridge.Options{})
			before := h.store.Commits()
			h.nuki.fetchErr = tt.err
			h.nuki.locks = nil // would delete both locks if it were applied
			if err := h.svc.Sync(context.Background()); !errors.Is(err, tt.err) {
				t.Fatalf("Sync() = %v", err)
			}
			st := h.svc.SyncState()
			if st.Status != tt.want || st.LastError == "" || st.LastSync.IsZero() {
				t.Errorf("sync state %+v, want %s with the reason and the last good sync", st, tt.want)
			}
			if h.store.Commits() != before || len(h.svc.Locks()) != 2 {
				t.Errorf("a failed sync changed the store")
			}
		})
	}
}

func TestExpiryEventsComeOnce(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.rec.take()

	h.clock.Advance(37 * time.Hour)
	h.tick()
	h.sync()
	h.tick()
	if ev := h.rec.take(); !slices.Equal(ev, []string{"expiring_soon:" + string(inv.ID), "reminder:" + string(inv.ID)}) {
		t.Errorf("after 37h: events %v", ev)
	}
	h.clock.Advance(12 * time.Hour)
	h.sync()
	h.tick()
	if ev := h.rec.take(); !slices.Equal(ev, []string{"expired:" + string(inv.ID)}) {
		t.Errorf("after 49h: events %v", ev)
	}
	if got := h.svc.SyncState().Counts[bridge.StatusExpired]; got != 1 {
		t.Errorf("expired count %d", got)
	}
}

func TestCreateWithNukiDelivery(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	req := bridge.CreateRequest{RequestID: "r1", Email: "alice@example.com", Name: "Alice", SmartlockIDs: []int64{100, 101}}
	invs, err := h.svc.Create(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 2 || h.nuki.Emails() != 2 {
		t.Fatalf("%d invitations, %d Nuki emails; want one of each per lock", len(invs), h.nuki.Emails())
	}
	for _, inv := range invs {
		if inv.Status != bridge.StatusSending || inv.Send != 1 || !inv.ExpiresAt.IsZero() {
			t.Errorf("before the lock confirmed: invitation %+v, want sending without an expiry", inv)
		}
	}
	h.clock.Advance(time.Minute)
	h.sync()
	for _, inv := range invs {
		got := h.get(inv.ID)
		if got.Status != bridge.StatusPending || !got.ExpiresAt.Equal(h.clock.Now().Add(48*time.Hour)) {
			t.Errorf("after the lock confirmed: status %s, expires %s; want pending, 48 h from the confirmation", got.Status, got.ExpiresAt)
		}
	}
	again, err := h.svc.Create(context.Background(), req)
	if err != nil || len(again) != 2 || h.nuki.Emails() != 2 {
		t.Errorf("same request_id again: %d invitations, err %v, %d Nuki emails; want the first result and no email", len(again), err, h.nuki.Emails())
	}
	req.RequestID = "r2"
	if _, err := h.svc.Create(context.Background(), req); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("second invitation to the same locks: %v, want ErrConflict", err)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	tests := []struct {
		name string
		req  bridge.CreateRequest
		want error
	}{
		{"no email", bridge.CreateRequest{Name: "A", SmartlockIDs: []int64{100}}, bridge.ErrInvalid},
		{"bad email", bridge.CreateRequest{Email: "alice", Name: "A", SmartlockIDs: []int64{100}}, bridge.ErrInvalid},
		{"no locks", bridge.CreateRequest{Email: "a@example.com", Name: "A"}, bridge.ErrInvalid},
		{"unknown lock", bridge.CreateRequest{Email: "a@example.com", Name: "A", SmartlockIDs: []int64{999}}, bridge.ErrInvalid},
		{"language", bridge.CreateRequest{Email: "a@example.com", Name: "A", Language: "xx", SmartlockIDs: []int64{100}}, bridge.ErrInvalid},
		{"window", bridge.CreateRequest{Email: "a@example.com", Name: "A", SmartlockIDs: []int64{100},
			Access: bridge.Access{FromTime: 600, UntilTime: 500}}, bridge.ErrInvalid},
		{"custom without advanced API", bridge.CreateRequest{Email: "a@example.com", Name: "A", SmartlockIDs: []int64{100},
			Delivery: bridge.DeliveryCustom}, bridge.ErrDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.svc.Create(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("Create = %v, want %v", err, tt.want)
			}
		})
	}
	if h.nuki.Emails() != 0 || len(h.nuki.users) != 0 {
		t.Errorf("bad requests reached Nuki Web")
	}
}

func TestCustomDeliveryMailsTheCodeOnce(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true, ExposeCodes: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	if h.nuki.Emails() != 0 {
		t.Errorf("custom delivery made Nuki send %d emails", h.nuki.Emails())
	}
	if _, err := h.svc.RevealCode(context.Background(), inv.ID, "test"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("code before the webhook: %v", err)
	}
	var reqID string
	for id := range h.nuki.requests {
		reqID = id
	}
	result := bridge.AuthCreation{RequestID: reqID, Success: true,
		Results: []bridge.AuthCreationResult{{SmartlockID: 100, Success: true, Code: "123456789"}}}
	if err := h.svc.HandleAuthCreation(context.Background(), result); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.HandleAuthCreation(context.Background(), result); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("the same result twice: %v, want ErrNotFound", err)
	}
	if got := h.mail.Kinds(); !slices.Equal(got, []string{"invite:alice@example.com"}) {
		t.Fatalf("emails %v", got)
	}
	if h.mail.sent[0].Code.Reveal() != "123456789" || h.mail.sent[0].Lock != "Front door" || h.mail.sent[0].Language != "de" {
		t.Errorf("email %+v", h.mail.sent[0])
	}
	code, err := h.svc.RevealCode(context.Background(), inv.ID, "web:admin")
	if err != nil || code.Code.Reveal() != "123456789" {
		t.Fatalf("RevealCode = %v, %v", code, err)
	}
	got := h.get(inv.ID)
	if last := got.History[len(got.History)-1]; last.Event != bridge.EventCodeRevealed || last.Actor != "web:admin" {
		t.Errorf("last history %+v", last)
	}
	ev := h.rec.take()
	if !slices.Contains(ev, "code_ready:"+string(inv.ID)) || !slices.Contains(ev, "sent:"+string(inv.ID)) {
		t.Errorf("events %v", ev)
	}

	h.sync()
	h.nuki.accept(t, 100, inv.AccountUserID)
	h.sync()
	if _, err := h.svc.RevealCode(context.Background(), inv.ID, "test"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("code after acceptance: %v, want it gone", err)
	}
	if len(h.store.st.Codes) != 0 {
		t.Errorf("the store still holds %d codes after acceptance", len(h.store.st.Codes))
	}
}

func TestCodesStayHiddenByDefault(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	if _, err := h.svc.RevealCode(context.Background(), inv.ID, "test"); !errors.Is(err, bridge.ErrDisabled) {
		t.Errorf("RevealCode = %v, want ErrDisabled", err)
	}
}

func TestAdvancedFailureIsRetried(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	var reqID string
	for id := range h.nuki.requests {
		reqID = id
	}
	clear(h.nuki.auths)
	err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: reqID,
		Results: []bridge.AuthCreationResult{{SmartlockID: 100, ErrorCode: "ff"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := h.get(inv.ID)
	if got.Status != bridge.StatusFailed || got.LastError != "Nuki could not create the authorization: the lock is most likely offline" {
		t.Errorf("status %s error %q", got.Status, got.LastError)
	}
	h.sync() // the authorization is absent: still failed, not revoked
	if got := h.get(inv.ID); got.Status != bridge.StatusFailed {
		t.Errorf("after sync: %s", got.Status)
	}
	h.tick()
	if got := h.get(inv.ID); got.Status != bridge.StatusSending || got.RequestID == "" || len(h.nuki.requests) != 2 {
		t.Errorf("after retry: status %s request %q, %d requests", got.Status, got.RequestID, len(h.nuki.requests))
	}
}

func TestResend(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(30 * time.Hour)
	h.rec.take()

	got, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != inv.ID || got.ResendCount != 1 || got.Send != 2 || got.Status != bridge.StatusSending || !got.ExpiresAt.IsZero() {
		t.Errorf("after re-send: %+v", got)
	}
	if h.nuki.Emails() != 2 || len(h.nuki.deleted) != 1 {
		t.Errorf("%d Nuki emails, %d deletions; want 2 and 1", h.nuki.Emails(), len(h.nuki.deleted))
	}
	if ev := h.rec.take(); !slices.Equal(ev, []string{"changed:" + string(inv.ID), "resent:" + string(inv.ID)}) {
		t.Errorf("events %v", ev)
	}
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending || !got.ExpiresAt.Equal(h.clock.Now().Add(48*time.Hour)) {
		t.Errorf("after the lock confirmed: %s, expires %s", got.Status, got.ExpiresAt)
	}
	if ev := h.rec.take(); !slices.Equal(ev, []string{"sent:" + string(inv.ID)}) {
		t.Errorf("events at confirmation %v", ev)
	}

	h.clock.Advance(time.Minute)
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("second press within the cool-down: %v", err)
	}
	if h.nuki.Emails() != 2 {
		t.Errorf("the second press sent an email")
	}
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending || got.AuthID == "" {
		t.Errorf("after sync: %s, auth %q", got.Status, got.AuthID)
	}

	h.nuki.accept(t, 100, inv.AccountUserID)
	h.sync()
	h.clock.Advance(time.Hour)
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("re-send of an accepted invitation: %v", err)
	}
	got, err = h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{Force: true, Actor: "test"})
	if err != nil || got.Status != bridge.StatusSending || got.ResendCount != 2 || h.nuki.Emails() != 3 {
		t.Errorf("forced re-send of an accepted invitation: %v, %s, %d re-sends, %d emails", err, got.Status, got.ResendCount, h.nuki.Emails())
	}
}

func TestResendToOfflineLockFailsThenRecovers(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.nuki.refuse[100] = &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrInvalid, Status: 400, Description: "the smartlock is offline"}
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); err == nil {
		t.Fatal("re-send to an offline lock succeeded")
	}
	got := h.get(inv.ID)
	if got.Status != bridge.StatusFailed || got.LastError != "the smartlock is offline" {
		t.Errorf("status %s error %q", got.Status, got.LastError)
	}
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusFailed {
		t.Errorf("after a sync the invitation is %s; the missing authorization must not count as revoked", got.Status)
	}
	h.start() // a restart in between loses nothing
	delete(h.nuki.refuse, 100)
	h.tick()
	h.sync()
	got = h.get(inv.ID)
	if got.Status != bridge.StatusPending || got.ResendCount != 1 || got.LastError != "" {
		t.Errorf("after the retry: status %s, re-sends %d, error %q", got.Status, got.ResendCount, got.LastError)
	}
	if h.nuki.Emails() != 2 {
		t.Errorf("%d Nuki emails, want 2", h.nuki.Emails())
	}
}

func TestReminderExactlyOnceAcrossRestarts(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true, AdminEmail: "admin@example.com"})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	var reqID string
	for id := range h.nuki.requests {
		reqID = id
	}
	if err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: reqID, Success: true,
		Results: []bridge.AuthCreationResult{{SmartlockID: 100, Success: true, Code: "987654321"}}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(36*time.Hour + time.Minute)
	h.tick()
	h.start()
	h.tick()
	h.clock.Advance(time.Hour)
	h.tick()
	want := []string{"invite:alice@example.com", "reminder:alice@example.com", "digest:admin@example.com"}
	if got := h.mail.Kinds(); !slices.Equal(got, want) {
		t.Errorf("emails %v, want %v", got, want)
	}
	reminders := 0
	for _, e := range h.get(inv.ID).History {
		if e.Event == bridge.EventReminder {
			reminders++
		}
	}
	if reminders != 1 {
		t.Errorf("%d reminders in the history", reminders)
	}
}

func TestAutoResendStopsAtTheCap(t *testing.T) {
	h := newHarness(t, bridge.Options{AutoResendAfter: 6 * time.Hour, AutoResendMax: 2})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	for range 5 {
		h.sync()
		h.clock.Advance(6*time.Hour + time.Minute)
		h.tick() // asks the lock to sync
		h.clock.Advance(time.Minute)
		h.tick() // looks again, then re-sends
	}
	got := h.get(inv.ID)
	if got.ResendCount != 2 || got.AutoResends != 2 || h.nuki.Emails() != 3 {
		t.Errorf("re-sends %d (auto %d), Nuki emails %d; want 2, 2, 3", got.ResendCount, got.AutoResends, h.nuki.Emails())
	}
}

func TestAutoResendOnExpiry(t *testing.T) {
	h := newHarness(t, bridge.Options{AutoResendOnExpiry: true, AutoResendMax: 1})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(47 * time.Hour)
	h.tick()
	if h.nuki.Emails() != 1 {
		t.Fatalf("re-sent before expiry")
	}
	h.clock.Advance(2 * time.Hour)
	h.tick()
	h.clock.Advance(time.Minute)
	h.tick()
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending || got.ResendCount != 1 {
		t.Errorf("after expiry: %s with %d re-sends", got.Status, got.ResendCount)
	}
}

func TestRevoke(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	got, err := h.svc.Revoke(context.Background(), inv.ID, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.StatusRevoked || len(h.nuki.auths) != 0 {
		t.Errorf("status %s, %d authorizations left in Nuki", got.Status, len(h.nuki.auths))
	}
	if _, err := h.svc.Revoke(context.Background(), inv.ID, "mqtt"); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("second revoke: %v", err)
	}
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("re-send of a revoked invitation: %v", err)
	}
	if _, err := h.svc.Revoke(context.Background(), "100-999", "mqtt"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestSecretsRedact(t *testing.T) {
	s := bridge.Secret("123456789")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if got != "[redacted]" {
			t.Errorf("secret shown as %q", got)
		}
	}
	if b, _ := s.MarshalText(); string(b) != "[redacted]" {
		t.Errorf("secret marshals to %q", b)
	}
}

func TestActionsBeforeTheNextSync(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	got, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{})
	if err != nil {
		t.Fatalf("re-send right after creating: %v", err)
	}
	if got.ResendCount != 1 || h.nuki.Emails() != 2 || len(h.nuki.deleted) != 1 || len(h.nuki.auths) != 1 {
		t.Errorf("re-sends %d, Nuki emails %d, deleted %d, authorizations %d; want 1, 2, 1, 1",
			got.ResendCount, h.nuki.Emails(), len(h.nuki.deleted), len(h.nuki.auths))
	}

	other := h.create(bridge.DeliveryNuki, 101)[0]
	if _, err := h.svc.Revoke(context.Background(), other.ID, "test"); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := h.get(other.ID); got.Status != bridge.StatusRevoked {
		t.Errorf("revoked before a sync, then synced: %s; the authorization must be gone from Nuki", got.Status)
	}
	if got := h.get(inv.ID); got.Status != bridge.StatusPending || got.AuthID == "" {
		t.Errorf("the re-sent invitation after a sync: %s, auth %q", got.Status, got.AuthID)
	}
}

func TestAutoResendAfterLongerThanValidity(t *testing.T) {
	h := newHarness(t, bridge.Options{AutoResendAfter: 60 * time.Hour, AutoResendMax: 1})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(49 * time.Hour) // expired, but not yet 60 h after sending
	h.tick()
	if got := h.get(inv.ID); got.Status != bridge.StatusExpired || h.nuki.Emails() != 1 {
		t.Fatalf("49 h after sending: %s with %d Nuki emails; want expired and no re-send yet", got.Status, h.nuki.Emails())
	}
	h.clock.Advance(11 * time.Hour)
	h.tick()
	h.clock.Advance(time.Minute)
	h.tick()
	h.sync()
	if got := h.get(inv.ID); got.ResendCount != 1 || got.Status != bridge.StatusPending {
		t.Errorf("60 h after sending: %s with %d re-sends; want one automatic re-send", got.Status, got.ResendCount)
	}
}

func TestAdvancedFailureRetriesStopAtTheLimit(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	for range 30 {
		reqID := h.get(inv.ID).RequestID
		if reqID == "" {
			break // no retry was made: the scheduler gave up
		}
		clear(h.nuki.auths) // the lock is offline: nothing was created
		err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: reqID,
			Results: []bridge.AuthCreationResult{{SmartlockID: 100, ErrorCode: "ff"}}})
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(15 * time.Minute)
		_ = h.svc.Tick(context.Background())
	}
	got := h.get(inv.ID)
	if len(h.nuki.requests) > 10 || got.Status != bridge.StatusFailed {
		t.Errorf("%d advanced requests for one offline lock, status %s; want at most 10 and failed", len(h.nuki.requests), got.Status)
	}
}

func TestCodeOfAnAuthorizationCreatedAgainInNukiWebIsDropped(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true, ExposeCodes: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: h.get(inv.ID).RequestID, Success: true,
		Results: []bridge.AuthCreationResult{{SmartlockID: 100, Success: true, Code: "123456789"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.sync()
	// Deleted and created again by hand in Nuki Web between two syncs: the
	// old code died with the old authorization.
	h.clock.Advance(time.Hour)
	h.nuki.mu.Lock()
	clear(h.nuki.auths)
	h.nuki.addAuth(100, bridge.Grant{AccountUserID: inv.AccountUserID, Name: "Alice"})
	h.nuki.mu.Unlock()
	h.sync()
	if got := h.get(inv.ID); got.Send != 2 || got.HasCode {
		t.Errorf("after re-creation: send %d, has code %v", got.Send, got.HasCode)
	}
	if len(h.store.st.Codes) != 0 {
		t.Errorf("the store still holds %d codes of a deleted authorization", len(h.store.st.Codes))
	}
}

func TestOldCreateRequestsAreForgotten(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	req := bridge.CreateRequest{RequestID: "r1", Email: "alice@example.com", Name: "Alice", SmartlockIDs: []int64{100}, Actor: "test"}
	if _, err := h.svc.Create(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	h.tick()
	if invs, err := h.svc.Create(context.Background(), req); err != nil || len(invs) != 1 || h.nuki.Emails() != 1 {
		t.Fatalf("the same request an hour later: %v, %d emails", err, h.nuki.Emails())
	}
	h.clock.Advance(31 * 24 * time.Hour)
	h.tick()
	if len(h.store.st.Requests) != 0 {
		t.Errorf("the store keeps %d create requests from a month ago", len(h.store.st.Requests))
	}
}

func TestRevokeBeforeNukiFinishedTheCustomInvitation(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true, ExposeCodes: true})
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	reqID := h.get(inv.ID).RequestID
	late := maps.Clone(h.nuki.auths)
	clear(h.nuki.auths) // Nuki has not created it yet
	if _, err := h.svc.Revoke(context.Background(), inv.ID, "test"); err != nil {
		t.Fatal(err)
	}
	maps.Copy(h.nuki.auths, late) // now it has
	var authID string
	for id := range late {
		authID = id
	}
	err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: reqID, Success: true,
		Results: []bridge.AuthCreationResult{{SmartlockID: 100, Success: true, AuthID: authID, Code: "111222333"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusRevoked || got.HasCode {
		t.Fatalf("after Nuki's late result: %s, code stored %v; want it to stay revoked", got.Status, got.HasCode)
	}
	h.tick()
	if len(h.nuki.auths) != 0 {
		t.Errorf("the late authorization was not deleted from Nuki Web")
	}
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusRevoked {
		t.Errorf("after the clean-up: %s", got.Status)
	}
	if len(h.mail.Kinds()) != 0 || len(h.store.st.Codes) != 0 {
		t.Errorf("a revoked invitation's code was mailed (%v) or stored (%d)", h.mail.Kinds(), len(h.store.st.Codes))
	}
}

func TestRetriedCustomSendingsAreCountedOnce(t *testing.T) {
	h := newHarness(t, bridge.Options{AdvancedAPI: true})
	fail := func(id bridge.InviteID) {
		t.Helper()
		clear(h.nuki.auths)
		err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: h.get(id).RequestID,
			Results: []bridge.AuthCreationResult{{SmartlockID: 100, ErrorCode: "ff"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	succeed := func(id bridge.InviteID) {
		t.Helper()
		err := h.svc.HandleAuthCreation(context.Background(), bridge.AuthCreation{RequestID: h.get(id).RequestID, Success: true,
			Results: []bridge.AuthCreationResult{{SmartlockID: 100, Success: true, Code: "123123123"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	inv := h.create(bridge.DeliveryCustom, 100)[0]
	fail(inv.ID)
	h.tick() // the retry
	succeed(inv.ID)
	got := h.get(inv.ID)
	if got.Send != 1 || got.ResendCount != 0 || !slices.Equal(h.mail.Kinds(), []string{"invite:alice@example.com"}) {
		t.Fatalf("a retried first sending: send %d, re-sends %d, emails %v; want 1, 0, one invite", got.Send, got.ResendCount, h.mail.Kinds())
	}

	h.sync()
	h.clock.Advance(time.Hour)
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); err != nil {
		t.Fatal(err)
	}
	fail(inv.ID)
	h.tick()
	succeed(inv.ID)
	got = h.get(inv.ID)
	if got.Send != 2 || got.ResendCount != 1 {
		t.Errorf("one re-send, refused once and retried: send %d, re-sends %d; want 2 and 1", got.Send, got.ResendCount)
	}
}

func TestASlowNukiDoesNotHoldUpCommands(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.nuki.fetching, h.nuki.fetchGate = make(chan struct{}), make(chan struct{})
	synced := make(chan error, 1)
	go func() { synced <- h.svc.Sync(context.Background()) }()
	<-h.nuki.fetching // the sync now waits on Nuki Web

	h.revokeUnknownAtOnce()
	close(h.nuki.fetchGate)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if got := h.get(inv.ID); got.Status != bridge.StatusPending {
		t.Errorf("after the slow sync: %s, want pending", got.Status)
	}
}

func TestASyncThatWouldRevokeEverythingIsHeld(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t, bridge.Options{})
		for i := range 10 {
			_, err := h.svc.Create(context.Background(), bridge.CreateRequest{Email: fmt.Sprintf("g%d@example.com", i),
				Name: "Guest", SmartlockIDs: []int64{100}})
			if err != nil {
				t.Fatal(err)
			}
		}
		h.sync()
		return h
	}
	revoked := func(h *harness) int { return h.svc.SyncState().Counts[bridge.StatusRevoked] }

	t.Run("held, then carried out when the next sync agrees", func(t *testing.T) {
		h := setup(t)
		saved := maps.Clone(h.nuki.auths)
		clear(h.nuki.auths) // bad answers: an empty account
		h.rec.take()
		h.sync()
		if st := h.svc.SyncState(); st.Status != bridge.SyncOK || revoked(h) != 0 {
			t.Fatalf("after one empty answer: %s, %d revoked; want nothing done", st.Status, revoked(h))
		}
		h.sync()
		st := h.svc.SyncState()
		if st.Status != bridge.SyncHeld || !strings.Contains(st.LastError, "10 of 10") || revoked(h) != 0 {
			t.Fatalf("after the empty answer: %s %q, %d revoked; want held, nothing revoked", st.Status, st.LastError, revoked(h))
		}
		if ev := h.rec.take(); len(ev) != 0 {
			t.Errorf("a held sync emitted %v", ev)
		}
		maps.Copy(h.nuki.auths, saved) // the glitch is over
		h.sync()
		if st := h.svc.SyncState(); st.Status != bridge.SyncOK || revoked(h) != 0 {
			t.Errorf("after a good answer: %s, %d revoked", st.Status, revoked(h))
		}
		clear(h.nuki.auths) // really gone this time: the held sync and the next agree
		h.sync()
		h.sync()
		h.sync()
		if revoked(h) != 10 {
			t.Errorf("%d revoked after two syncs agreed, want 10", revoked(h))
		}
	})
	t.Run("carried out when the user confirms", func(t *testing.T) {
		h := setup(t)
		clear(h.nuki.auths)
		h.sync()
		h.sync()
		if err := h.svc.ConfirmHeldSync(); err != nil {
			t.Fatal(err)
		}
		h.sync()
		if revoked(h) != 10 || h.svc.SyncState().Status != bridge.SyncOK {
			t.Errorf("%d revoked, status %s after the confirmation", revoked(h), h.svc.SyncState().Status)
		}
		if err := h.svc.ConfirmHeldSync(); !errors.Is(err, bridge.ErrConflict) {
			t.Errorf("confirming with nothing held: %v", err)
		}
	})
	t.Run("a few deleted in Nuki Web go at once", func(t *testing.T) {
		h := setup(t)
		for id := range h.nuki.auths {
			delete(h.nuki.auths, id)
			break
		}
		h.sync()
		h.sync()
		if revoked(h) != 1 || h.svc.SyncState().Status != bridge.SyncOK {
			t.Errorf("%d revoked, status %s", revoked(h), h.svc.SyncState().Status)
		}
	})
}

func TestAnUnknownIDIsAnsweredWhileNukiIsSlow(t *testing.T) {
	h := newHarness(t, bridge.Options{ConfirmTimeout: time.Hour})
	h.create(bridge.DeliveryNuki, 100)
	// A follow-up waits on Nuki Web while it holds the action lock.
	h.nuki.findGate, h.nuki.finding = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { _ = h.svc.FollowUp(context.Background()); close(done) }()
	<-h.nuki.finding
	h.revokeUnknownAtOnce()
	close(h.nuki.findGate)
	<-done
	h.nuki.finding = nil
}

// revokeUnknownAtOnce revokes an id nobody has and expects ErrNotFound
// within seconds, whatever else waits on Nuki Web.
func (h *harness) revokeUnknownAtOnce() {
	h.t.Helper()
	answered := make(chan error, 1)
	go func() {
		_, err := h.svc.Revoke(context.Background(), "100-999", "test")
		answered <- err
	}()
	select {
	case err := <-answered:
		if !errors.Is(err, bridge.ErrNotFound) {
			h.t.Errorf("revoke of an unknown id: %v, want ErrNotFound", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("a revoke of an unknown id waited for a call to Nuki Web")
	}
}
