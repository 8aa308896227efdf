package bridge_test

import (
	"fmt"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// TestLargeSyncIsWrittenInParts: the first sync of an account with 4,500
// authorizations made elsewhere writes them in parts of at most 2,000
// invitations, each with its own authorization, and tells every invitation
// once; a sync that changes fewer is still one transaction.
func TestLargeSyncIsWrittenInParts(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	const n = 4500
	h.nuki.mu.Lock()
	for i := range n {
		id := int64(100000 + i)
		h.nuki.users[id] = bridge.User{ID: id, Email: fmt.Sprintf("guest%d@example.com", i), Name: fmt.Sprintf("Guest %d", i)}
		h.nuki.addAuth(h.nuki.locks[i%2].ID, bridge.Grant{AccountUserID: id, Name: fmt.Sprintf("Guest %d", i)})
	}
	h.nuki.mu.Unlock()

	var sizes []int
	h.store.seen = func(b bridge.Batch) {
		sizes = append(sizes, len(b.Invitations))
		in := map[bridge.InviteID]bool{}
		for _, inv := range b.Invitations {
			in[inv.ID] = true
		}
		for _, a := range b.Auths {
			if !in[bridge.MakeInviteID(a.SmartlockID, a.AccountUserID)] {
				t.Errorf("authorization %s is written apart from its invitation", a.ID)
			}
		}
	}
	h.rec.take()
	h.sync()
	if len(sizes) != 3 || sizes[0] != 2000 || sizes[1] != 2000 || sizes[2] != 500 {
		t.Fatalf("the first sync wrote %v invitations per transaction, want [2000 2000 500]", sizes)
	}
	if got := len(h.svc.Invitations(bridge.Filter{})); got != n {
		t.Fatalf("%d invitations after the sync, want %d", got, n)
	}
	told := map[bridge.InviteID]int{}
	for _, ev := range h.rec.events {
		told[ev.Invitation.ID]++
		if ev.Invitation.ID != bridge.MakeInviteID(ev.Invitation.SmartlockID, ev.Invitation.AccountUserID) {
			t.Fatalf("event %s carries the wrong invitation", ev.Type)
		}
	}
	if len(told) != n {
		t.Fatalf("subscribers heard of %d invitations, want %d", len(told), n)
	}

	sizes = nil
	h.nuki.mu.Lock()
	for id, a := range h.nuki.auths {
		if a.AccountUserID >= 100000 && a.AccountUserID < 101500 {
			a.LockCount = 1
			h.nuki.auths[id] = a
		}
	}
	h.nuki.mu.Unlock()
	h.sync()
	if len(sizes) != 1 || sizes[0] != 1500 {
		t.Fatalf("a sync accepting 1,500 wrote %v invitations per transaction, want one of 1500", sizes)
	}
	accepted := len(h.svc.Invitations(bridge.Filter{Statuses: []bridge.Status{bridge.StatusAccepted}}))
	if accepted != 1500 {
		t.Fatalf("%d accepted, want 1500", accepted)
	}
}
