package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// TestCheckCreateAgreesWithCreate asks CheckCreate about each request, then
// Create: the check changes nothing and calls no one, and its verdict is
// Create's, in the same words.
func TestCheckCreateAgreesWithCreate(t *testing.T) {
	guest := func(email string, locks ...int64) bridge.CreateRequest {
		return bridge.CreateRequest{Email: email, Name: "Guest", SmartlockIDs: locks, Actor: "test"}
	}
	tests := []struct {
		name  string
		opts  bridge.Options
		setup func(t *testing.T, h *harness)
		req   bridge.CreateRequest
		want  error // nil: Create goes ahead
	}{
		{name: "new guest", req: guest("new@example.com", 100, 101)},
		{name: "missing name and email", req: bridge.CreateRequest{SmartlockIDs: []int64{100}}, want: bridge.ErrInvalid},
		{name: "too many locks", req: guest("g@example.com", make([]int64, bridge.MaxLocksPerRequest+1)...), want: bridge.ErrInvalid},
		{name: "unknown lock", req: guest("g@example.com", 100, 999), want: bridge.ErrInvalid},
		{name: "bad window", req: bridge.CreateRequest{Email: "g@example.com", Name: "G", SmartlockIDs: []int64{100},
			Access: bridge.Access{FromTime: 600, UntilTime: 500}}, want: bridge.ErrInvalid},
		{name: "custom delivery without the Advanced API", req: bridge.CreateRequest{Email: "g@example.com", Name: "G",
			SmartlockIDs: []int64{100}, Delivery: bridge.DeliveryCustom}, want: bridge.ErrDisabled},
		{name: "open invitation on one of the locks", req: guest("alice@example.com", 101, 100), want: bridge.ErrConflict,
			setup: func(t *testing.T, h *harness) { h.create(bridge.DeliveryNuki, 100) }},
		{name: "accepted invitation on the lock", req: guest("alice@example.com", 100), want: bridge.ErrConflict,
			setup: func(t *testing.T, h *harness) {
				inv := h.create(bridge.DeliveryNuki, 100)[0]
				h.sync()
				h.nuki.accept(t, inv.SmartlockID, inv.AccountUserID)
				h.sync()
			}},
		{name: "invitation on another lock", req: guest("alice@example.com", 101),
			setup: func(t *testing.T, h *harness) { h.create(bridge.DeliveryNuki, 100) }},
		{name: "revoked invitation on the lock", req: guest("alice@example.com", 100),
			setup: func(t *testing.T, h *harness) {
				inv := h.create(bridge.DeliveryNuki, 100)[0]
				h.sync()
				if _, err := h.svc.Revoke(context.Background(), inv.ID, "test"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "request id already answered", req: bridge.CreateRequest{RequestID: "r1", Email: "alice@example.com",
			Name: "Alice", SmartlockIDs: []int64{100}},
			setup: func(t *testing.T, h *harness) {
				if _, err := h.svc.Create(context.Background(), bridge.CreateRequest{RequestID: "r1",
					Email: "alice@example.com", Name: "Alice", SmartlockIDs: []int64{100}}); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			if tt.setup != nil {
				tt.setup(t, h)
			}
			commits, users, emails := h.store.Commits(), len(h.nuki.users), h.nuki.Emails()
			checked := h.svc.CheckCreate(tt.req)
			if h.store.Commits() != commits || len(h.nuki.users) != users || h.nuki.Emails() != emails {
				t.Fatalf("CheckCreate changed something: commits %d → %d, Nuki users %d → %d, Nuki emails %d → %d",
					commits, h.store.Commits(), users, len(h.nuki.users), emails, h.nuki.Emails())
			}
			if !errors.Is(checked, tt.want) || (tt.want == nil) != (checked == nil) {
				t.Fatalf("CheckCreate = %v, want %v", checked, tt.want)
			}
			_, created := h.svc.Create(context.Background(), tt.req)
			if (checked == nil) != (created == nil) || (checked != nil && checked.Error() != created.Error()) {
				t.Errorf("CheckCreate = %v, but Create = %v", checked, created)
			}
		})
	}
}

// TestCheckCreateMatchesEmailsAsNukiDoes: Nuki Web finds an account user by
// e-mail address regardless of case, so Create would meet the same user.
func TestCheckCreateMatchesEmailsAsNukiDoes(t *testing.T) {
	h := newHarness(t, bridge.Options{})
	h.create(bridge.DeliveryNuki, 100)
	err := h.svc.CheckCreate(bridge.CreateRequest{Email: " Alice@EXAMPLE.com ", Name: "Alice", SmartlockIDs: []int64{100}})
	if !errors.Is(err, bridge.ErrConflict) || !strings.Contains(err.Error(), "Alice already has an invitation to Front door (sending)") {
		t.Errorf("CheckCreate = %v, want a conflict naming Alice, the lock and the status", err)
	}
}
