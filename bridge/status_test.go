package bridge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestTheLocksAuthIDIsNeverAcceptance(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	for id, a := range h.nuki.auths {
		a.AuthID = 99 // the lock assigned another one
		h.nuki.auths[id] = a
	}
	h.clock.Advance(time.Hour)
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending {
		t.Errorf("status %s after the lock changed authId; want pending", got.Status)
	}
}

func TestAnAppIDSeenAtFirstSightIsNoAcceptance(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.holdCreates = true
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	for id, a := range h.nuki.auths {
		a.AppID = 31 // whatever set it, it was there before the guest could redeem
		h.nuki.auths[id] = a
	}
	h.nuki.release()
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending {
		t.Errorf("status %s, want pending", got.Status)
	}
}

func TestUseInTheActivityLogIsAcceptanceAndAnEvent(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.rec.take()
	h.clock.Advance(3 * time.Hour)
	usedAt := h.clock.Now()
	h.nuki.use(t, 100, inv.AccountUserID) // lockCount stays 0 until the lock syncs
	h.clock.Advance(time.Minute)
	h.sync()

	got := h.get(inv.ID)
	if got.Status != bridge.StatusAccepted || got.AcceptedSignal != bridge.SignalActivityLog || !got.AcceptedAt.Equal(usedAt) {
		t.Errorf("status %s signal %s at %s; want accepted by activity_log at %s", got.Status, got.AcceptedSignal, got.AcceptedAt, usedAt)
	}
	if !got.LastUsedAt.Equal(usedAt) {
		t.Errorf("last used %s, want %s", got.LastUsedAt, usedAt)
	}
	if ev := h.rec.take(); !slices.Equal(ev, []string{"accepted:" + string(inv.ID), "used:" + string(inv.ID)}) {
		t.Errorf("events %v, want accepted then used", ev)
	}
	if i := slices.IndexFunc(got.History, func(e bridge.HistoryEntry) bool { return e.Event == bridge.EventUsed }); i < 0 ||
		!strings.Contains(got.History[i].Detail, "unlock by app") {
		t.Errorf("history lacks the use: %+v", got.History)
	}

	h.sync() // the same entry again: nothing new
	if ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("a second read of the same entry emitted %v", ev)
	}
	h.clock.Advance(time.Hour)
	h.nuki.use(t, 100, inv.AccountUserID)
	h.sync()
	if ev := h.rec.take(); !slices.Equal(ev, []string{"used:" + string(inv.ID)}) {
		t.Errorf("a second use emitted %v, want one used event", ev)
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if use := h.rec.events; len(use) > 0 && use[len(use)-1].Use == nil {
		t.Errorf("used event without its log entry")
	}
}

func TestResendWaitsUntilTheLockHasDeletedTheOldAuthorization(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(30 * time.Hour)
	h.nuki.holdDeletes = true
	old := h.get(inv.ID).AuthID

	got, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bridge.StatusSending || h.nuki.Emails() != 1 || len(h.nuki.deleted) != 1 {
		t.Fatalf("right after the re-send: %s, %d emails, %d deletes; want sending, 1, 1", got.Status, h.nuki.Emails(), len(h.nuki.deleted))
	}
	h.clock.Advance(20 * time.Second)
	h.sync() // the old one is still listed, with an operation running
	if err := h.svc.FollowUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.get(inv.ID); got.Status != bridge.StatusSending || h.nuki.Emails() != 1 || got.AuthID != "" {
		t.Errorf("while the lock deletes: %s, %d emails, auth %q; want sending, no new email, no authorization taken", got.Status, h.nuki.Emails(), got.AuthID)
	}
	h.nuki.release()
	h.sync() // gone: the new one is created, then confirmed at the next look
	h.sync()
	got = h.get(inv.ID)
	if got.Status != bridge.StatusPending || got.ResendCount != 1 || got.AuthID == old || h.nuki.Emails() != 2 {
		t.Errorf("after the lock deleted it: %s, %d re-sends, auth %q (old %q), %d emails; want pending, 1, new, 2", got.Status, got.ResendCount, got.AuthID, old, h.nuki.Emails())
	}
}

func TestResendResumesAfterARestartWithoutASecondEmail(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(30 * time.Hour)
	h.nuki.holdDeletes = true
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); err != nil {
		t.Fatal(err)
	}
	h.start() // a restart while the lock deletes
	h.nuki.release()
	h.nuki.holdCreates = true
	h.sync()
	h.start() // and another while the lock takes the new one
	h.nuki.release()
	h.sync()
	got := h.get(inv.ID)
	if got.Status != bridge.StatusPending || got.ResendCount != 1 || h.nuki.Emails() != 2 {
		t.Errorf("%s, %d re-sends, %d emails; want pending, 1, 2", got.Status, got.ResendCount, h.nuki.Emails())
	}
}

func TestACreateTheLockDoesNotConfirmFailsThenRecovers(t *testing.T) {
	h := newHarness(t, bridge.Options{ConfirmTimeout: time.Hour})
	h.nuki.holdCreates = true // the lock is offline
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusSending {
		t.Fatalf("status %s, want sending", got.Status)
	}
	h.clock.Advance(time.Hour)
	h.tick()
	got := h.get(inv.ID)
	if got.Status != bridge.StatusFailed || !strings.Contains(got.LastError, "has not confirmed") {
		t.Errorf("after the bound: %s %q; want failed with the reason", got.Status, got.LastError)
	}
	h.tick() // asks again: Nuki still holds the create, no second one
	if h.nuki.Emails() != 1 || len(h.nuki.auths) != 1 {
		t.Errorf("%d emails, %d authorizations after the retry; want 1 and 1", h.nuki.Emails(), len(h.nuki.auths))
	}
	h.nuki.release() // the lock comes back
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusPending || got.LastError != "" {
		t.Errorf("after the lock confirmed: %s %q; want pending", got.Status, got.LastError)
	}
}

func TestAutomaticResendNeverTakesAUsedKey(t *testing.T) {
	h := newHarness(t, bridge.Options{AutoResendOnExpiry: true, AutoResendMax: 1})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.clock.Advance(49 * time.Hour)
	h.nuki.use(t, 100, inv.AccountUserID) // in the log; no sync has read it yet
	h.tick()                              // due: the lock is asked to sync
	if len(h.nuki.synced) != 1 {
		t.Errorf("the lock was asked to sync %d times, want once", len(h.nuki.synced))
	}
	h.clock.Advance(time.Minute)
	h.tick()
	got := h.get(inv.ID)
	if len(h.nuki.deleted) != 0 || h.nuki.Emails() != 1 {
		t.Fatalf("the used key was deleted (%d deletes, %d emails)", len(h.nuki.deleted), h.nuki.Emails())
	}
	if got.Status != bridge.StatusAccepted || got.AcceptedSignal != bridge.SignalActivityLog {
		t.Errorf("status %s signal %s, want accepted by the activity log", got.Status, got.AcceptedSignal)
	}
	i := slices.IndexFunc(got.History, func(e bridge.HistoryEntry) bool { return e.Event == bridge.EventSkipped })
	if i < 0 || !strings.Contains(got.History[i].Detail, "activity log") {
		t.Errorf("history lacks the skip with its evidence: %+v", got.History)
	}
	h.clock.Advance(time.Hour)
	h.tick()
	if len(h.nuki.deleted) != 0 {
		t.Errorf("a later tick deleted it")
	}
}

func TestTheHistoryKeepsTheEvidence(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.holdCreates = true
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.nuki.release()
	h.clock.Advance(time.Minute)
	h.sync()
	var evidence []string
	for _, e := range h.get(inv.ID).History {
		if e.Event == bridge.EventEvidence {
			evidence = append(evidence, e.Detail)
		}
	}
	if len(evidence) != 2 || !strings.Contains(evidence[0], "operationId \"op-") ||
		!strings.Contains(evidence[1], "authId 0 → 7") || !strings.Contains(evidence[1], "operationId \"op-") {
		t.Errorf("evidence %q; want the first sight, then authId and operationId changing", evidence)
	}
}

func TestCreateFindsAUserNukiRefusesToCreateAgain(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.users[9] = bridge.User{ID: 9, Email: "alice@example.com", Name: "Alice"}
	h.nuki.hideUsers = 1 // the first look-up misses it, the create is refused
	invs := h.create(bridge.DeliveryNuki, 100)
	if invs[0].AccountUserID != 9 {
		t.Errorf("invitation for user %d, want the existing user 9", invs[0].AccountUserID)
	}
	if len(h.nuki.users) != 1 {
		t.Errorf("%d users, want 1", len(h.nuki.users))
	}
}

func TestRevokeWhileTheLockStillListsIt(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	h.nuki.holdDeletes = true
	if _, err := h.svc.Revoke(context.Background(), inv.ID, "test"); err != nil {
		t.Fatal(err)
	}
	h.sync() // still listed while the lock deletes it
	if got := h.get(inv.ID); got.Status != bridge.StatusRevoked {
		t.Errorf("status %s while the delete runs, want revoked", got.Status)
	}
	if _, err := h.svc.Revoke(context.Background(), inv.ID, "test"); !errors.Is(err, bridge.ErrConflict) {
		t.Errorf("second revoke: %v", err)
	}
	h.nuki.release()
	h.sync()
	if got := h.get(inv.ID); got.Status != bridge.StatusRevoked || len(got.Deleting) != 0 {
		t.Errorf("after the delete: %s, deleting %v", got.Status, got.Deleting)
	}
}

func TestAResendStuckBehindABusyLockFailsInTime(t *testing.T) {
	h := newHarness(t, bridge.Options{ConfirmTimeout: time.Hour})
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.sync()
	for id, a := range h.nuki.auths {
		a.OperationID = "an-earlier-change" // the lock never carries it out
		h.nuki.auths[id] = a
	}
	if _, err := h.svc.Resend(context.Background(), inv.ID, bridge.ResendOptions{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	if err := h.svc.FollowUp(context.Background()); err != nil && !strings.Contains(err.Error(), "has not deleted") {
		t.Fatal(err)
	}
	got := h.get(inv.ID)
	if got.Status != bridge.StatusFailed || !strings.Contains(got.LastError, "has not deleted") {
		t.Errorf("%s %q, want failed: the lock has not deleted the old authorization", got.Status, got.LastError)
	}
	if h.nuki.Emails() != 1 || len(h.nuki.deleted) != 0 {
		t.Errorf("%d emails, %d deletes; want 1 and 0", h.nuki.Emails(), len(h.nuki.deleted))
	}
}

func TestASyncThatReadNukiBeforeAChangeLeavesItAlone(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.fetching, h.nuki.fetchGate = make(chan struct{}), make(chan struct{})
	synced := make(chan error, 1)
	go func() { synced <- h.svc.Sync(context.Background()) }()
	<-h.nuki.fetching // the sync has read an account without the new key

	inv := h.create(bridge.DeliveryNuki, 100)[0]
	if err := h.svc.FollowUp(context.Background()); err != nil { // the lock confirms it meanwhile
		t.Fatal(err)
	}
	if got := h.get(inv.ID); got.Status != bridge.StatusPending {
		t.Fatalf("confirmed: %s, want pending", got.Status)
	}
	close(h.nuki.fetchGate)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	h.nuki.fetching = nil
	h.sync()
	h.tick()
	got := h.get(inv.ID)
	if got.Status != bridge.StatusPending || len(h.nuki.deleted) != 0 || got.Send != 1 {
		t.Errorf("after the sync that read Nuki Web before the key existed: %s, %d deletes, sending %d; want pending, none, 1",
			got.Status, len(h.nuki.deleted), got.Send)
	}
	if slices.ContainsFunc(got.History, func(e bridge.HistoryEntry) bool { return e.Event == bridge.EventRevoked }) {
		t.Errorf("the invitation was taken for revoked on the way: %+v", got.History)
	}
}

func TestARevokeBeforeTheLockTookTheCreateStays(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.nuki.holdCreates = true
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	clear(h.nuki.auths) // not listed at all until the lock takes it
	if _, err := h.svc.Revoke(context.Background(), inv.ID, "test"); err != nil {
		t.Fatal(err)
	}
	// The lock takes the create after all; Nuki's creationDate says nothing.
	h.nuki.auths["late"] = bridge.Auth{ID: "late", SmartlockID: 100, AccountUserID: inv.AccountUserID,
		Type: bridge.AuthTypeApp, AuthID: 9, Enabled: true}
	h.sync()
	h.tick()
	if got := h.get(inv.ID); got.Status != bridge.StatusRevoked {
		t.Errorf("the key the lock made after the revoke brought the invitation back: %s", got.Status)
	}
	if !slices.Contains(h.nuki.deleted, "late") {
		t.Errorf("the late key was not deleted: %v", h.nuki.deleted)
	}
}

func TestAResendOfAnAdoptedKeyIsNeverAutomatic(t *testing.T) {
	h := newHarness(t, bridge.Options{AutoResendOnExpiry: true, AutoResendMax: 2})
	h.nuki.users[7] = bridge.User{ID: 7, Email: "bob@example.com", Name: "Bob"}
	h.nuki.auths["old"] = bridge.Auth{ID: "old", SmartlockID: 100, AccountUserID: 7, Type: bridge.AuthTypeApp,
		AuthID: 3, AppID: 41, Enabled: true, CreationDate: h.clock.Now().Add(-300 * 24 * time.Hour)}
	h.sync()
	h.tick()
	h.clock.Advance(2 * time.Minute)
	h.tick()
	if len(h.nuki.deleted) != 0 || h.nuki.Emails() != 0 {
		t.Errorf("an old key found in Nuki Web was replaced: %d deletes, %d emails", len(h.nuki.deleted), h.nuki.Emails())
	}
}

func TestAFailedSendingDoesNotFlapOrPollForEver(t *testing.T) {
	h := newHarness(t, bridge.Options{ConfirmTimeout: time.Hour})
	h.nuki.holdCreates = true // listed with an operation running, never carried out
	inv := h.create(bridge.DeliveryNuki, 100)[0]
	h.clock.Advance(time.Hour)
	h.tick()
	h.sync() // first sight of the listing: its evidence is recorded once
	h.rec.take()
	for range 3 {
		h.sync()
	}
	if ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("syncs of an unchanged failed sending emitted %v", ev)
	}
	if got := h.get(inv.ID); got.Status != bridge.StatusFailed {
		t.Errorf("status %s, want failed", got.Status)
	}
}

func TestValidityShowsOnlyAnExpiryThatCanStillCome(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status              bridge.Status
		confirmed, expiries bool
	}{
		{bridge.StatusSending, false, false},
		{bridge.StatusPending, true, true},
		{bridge.StatusExpiringSoon, true, true},
		{bridge.StatusExpired, true, true},
		{bridge.StatusFailed, true, true},
		{bridge.StatusAccepted, true, false},
		{bridge.StatusRevoked, true, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			inv := bridge.Invitation{ConfirmedAt: at, ExpiresAt: at.Add(48 * time.Hour), Status: tt.status}
			confirmed, expires := inv.Validity()
			if !confirmed.IsZero() != tt.confirmed || !expires.IsZero() != tt.expiries {
				t.Errorf("Validity() = %s, %s; want confirmed %v, expiry %v", confirmed, expires, tt.confirmed, tt.expiries)
			}
		})
	}
}
