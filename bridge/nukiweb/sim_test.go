package nukiweb_test

// These tests run the client against the simulator over real HTTP. Only the
// tests import nukisim; the packages themselves know nothing of each other.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// simClock is the simulator's clock. The client's Sleep moves it on, so that
// a wait between attempts is time the simulated locks get to work in.
type simClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *simClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	return ctx.Err()
}

// newSim serves a simulator on the clock it returns, with the real cloud's
// asynchronous writes (each lock carries a write out 2s after it was
// accepted), and a client whose backoff waits pass on that clock.
func newSim(t *testing.T, opts nukisim.Options) (*nukisim.Sim, *nukiweb.Client, *simClock) {
	t.Helper()
	clock := &simClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	opts.Token = token
	opts.Now = clock.Now
	sim := nukisim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, nukiweb.New(srv.URL, token, nukiweb.Options{Sleep: clock.sleep, PageSize: 40, Now: clock.Now}), clock
}

// lockDelay is a little more than the simulator's default time for a lock to
// carry out a write.
const lockDelay = 3 * time.Second

func TestAgainstSimulator(t *testing.T) {
	sim, c, clock := newSim(t, nukisim.Options{})
	seeded, err := sim.Seed(nukisim.SeedOptions{Locks: 3, Users: 100, Auths: 150, Accepted: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddAuth(bridge.Auth{SmartlockID: seeded.Locks[0], Type: 13, Name: "Keypad"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	snap, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Locks) != 3 || len(snap.Users) != 100 || len(snap.Auths) != 150 {
		t.Fatalf("snapshot: %d locks, %d users, %d auths", len(snap.Locks), len(snap.Users), len(snap.Auths))
	}
	if snap.Calls != 2+3 || sim.Calls() != snap.Calls {
		t.Fatalf("Calls %d, simulator counted %d; want 5 (100 users in pages of 40)", snap.Calls, sim.Calls())
	}
	var used bridge.Auth
	accepted := 0
	for _, a := range snap.Auths {
		if a.LockCount > 0 && a.AuthID != 0 && !a.LastActiveDate.IsZero() {
			accepted++
			used = a
		}
		if a.OperationID != "" {
			t.Errorf("seeded authorization %s has operation %q running", a.ID, a.OperationID)
		}
	}
	if accepted != 10 {
		t.Errorf("%d accepted auths read, want 10", accepted)
	}

	u, err := c.CreateUser(ctx, bridge.NewUser{Email: "dora@example.com", Name: "Dora", Language: "de"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.CreateUser(ctx, bridge.NewUser{Email: "dora@example.com", Name: "Dora"}); err != nil || again.ID != u.ID {
		t.Fatalf("CreateUser of an existing email = %+v, %v; want the existing user %d", again, err, u.ID)
	}
	if found, err := c.FindUser(ctx, "dora@example.com"); err != nil || found.ID != u.ID {
		t.Fatalf("FindUser: %+v %v", found, err)
	}

	lock := seeded.Locks[1]
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := c.CreateAuth(ctx, lock, bridge.Grant{AccountUserID: u.ID, Name: "Dora", RemoteAllowed: true,
		Access: bridge.Access{Until: until}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindAuth(ctx, lock, u.ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindAuth before the lock has the authorization: %v", err)
	}
	clock.Advance(lockDelay)
	sim.Settle()
	if emails := sim.Emails(); len(emails) != 1 || emails[0].To != "dora@example.com" || emails[0].SmartlockID != lock {
		t.Fatalf("emails %+v", emails)
	}
	var ne *bridge.NukiError
	err = c.CreateAuth(ctx, lock, bridge.Grant{AccountUserID: u.ID, Name: "Dora"})
	if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiRejected || !errors.Is(err, bridge.ErrConflict) || ne.Description == "" {
		t.Fatalf("second auth for the same user and lock: %v", err)
	}
	auths := sim.AuthsFor(u.ID)
	if len(auths) != 1 || !auths[0].Access.Until.Equal(until) {
		t.Fatalf("auths %+v", auths)
	}
	found, err := c.FindAuth(ctx, lock, u.ID)
	if err != nil || found.ID != auths[0].ID || found.OperationID != "" {
		t.Fatalf("FindAuth = %+v, %v; want %s with no operation running", found, err, auths[0].ID)
	}
	if _, err := c.FindAuth(ctx, seeded.Locks[2], u.ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindAuth on a lock without one: %v", err)
	}

	if err := c.DeleteAuth(ctx, lock, auths[0].ID); err != nil {
		t.Fatal(err)
	}
	if pending, err := c.FindAuth(ctx, lock, u.ID); err != nil || pending.OperationID == "" {
		t.Fatalf("FindAuth while the lock has not deleted it yet = %+v, %v; want it listed with an operationId", pending, err)
	}
	// The simulator refuses a second write while the first runs (423); the
	// client waits, the lock carries out the first delete meanwhile, and the
	// last attempt finds nothing to delete.
	if err := c.DeleteAuth(ctx, lock, auths[0].ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if len(clock.waits) == 0 {
		t.Errorf("the second delete did not wait for the first")
	}
	if _, err := c.FindAuth(ctx, lock, u.ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindAuth after the delete: %v", err)
	}

	if err := c.SyncLock(ctx, lock); err != nil {
		t.Fatalf("SyncLock: %v", err)
	}
	const strangers = 999_999
	if err := c.SyncLock(ctx, strangers); !errors.Is(err, bridge.ErrNukiLockDenied) || errors.Is(err, bridge.ErrNukiUnauthorized) {
		t.Fatalf("SyncLock of a lock that is not the account's: %v", err)
	}
	if err := c.DeleteAuth(ctx, strangers, "x"); !errors.Is(err, bridge.ErrNukiLockDenied) {
		t.Fatalf("DeleteAuth on a lock that is not the account's: %v", err)
	}

	since := clock.Now()
	clock.Advance(time.Minute)
	entry, err := sim.Use(used.SmartlockID, used.AccountUserID, bridge.ActionUnlock)
	if err != nil {
		t.Fatal(err)
	}
	entries, truncated, err := c.ActivityLog(ctx, since)
	if err != nil || truncated || len(entries) != 1 {
		t.Fatalf("ActivityLog since the use = %+v, %v, %v; want the one entry", entries, truncated, err)
	}
	if got := entries[0]; got.ID != entry.ID || got.AuthID != used.ID || got.AccountUserID != used.AccountUserID ||
		got.Trigger != bridge.TriggerApp || got.Action != bridge.ActionUnlock ||
		!got.Date.Equal(entry.Date.Truncate(time.Millisecond)) { // Nuki writes milliseconds
		t.Errorf("entry %+v, want %+v", got, entry)
	}
	entries, truncated, err = c.ActivityLog(ctx, time.Time{})
	if err != nil || truncated || len(entries) != 11 || entries[10].ID != entry.ID {
		t.Fatalf("whole ActivityLog: %d entries, truncated %v, %v; want the 10 seeded uses, then the new one",
			len(entries), truncated, err)
	}
}

func TestUserPagingAgainstSimulator(t *testing.T) {
	tests := []struct {
		name   string
		ignore bool
		pages  int
	}{
		{"offset and limit honoured", false, 3}, // 100, 100, 50
		{"offset and limit ignored", true, 2},   // all 250, then all 250 again: nothing new
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := nukisim.New(nukisim.Options{Token: token, IgnoreUserPaging: tt.ignore})
			srv := httptest.NewServer(sim)
			t.Cleanup(func() { srv.Close(); sim.Close() })
			if _, err := sim.Seed(nukisim.SeedOptions{Locks: 1, Users: 250}); err != nil {
				t.Fatal(err)
			}
			snap, err := nukiweb.New(srv.URL, token, nukiweb.Options{PageSize: 100}).Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ids := map[int64]bool{}
			for _, u := range snap.Users {
				ids[u.ID] = true
			}
			if len(snap.Users) != 250 || len(ids) != 250 {
				t.Errorf("%d users, %d distinct; want 250", len(snap.Users), len(ids))
			}
			if pages := sim.Calls() - 2; pages != tt.pages || snap.Calls != sim.Calls() {
				t.Errorf("%d user pages (Calls %d), want %d", pages, snap.Calls, tt.pages)
			}
		})
	}
}

func TestAdvancedAgainstSimulatorWithWebhook(t *testing.T) {
	s := &sink{}
	hook := httptest.NewServer(nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{}))
	defer hook.Close()
	sim, c, clock := newSim(t, nukisim.Options{WebhookURL: hook.URL, WebhookSecret: secret})
	a, b := sim.AddLock(bridge.Lock{Name: "A"}), sim.AddLock(bridge.Lock{Name: "B"})
	_ = sim.SetOffline(b.ID, true)
	u, _ := sim.AddUser(bridge.User{Email: "eve@example.com", Name: "Eve"})

	id, err := c.CreateAdvancedAuth(context.Background(), []int64{a.ID, b.ID}, bridge.Grant{AccountUserID: u.ID, Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(lockDelay) // both locks answer: A takes it, B is still offline
	sim.Settle()
	sim.Close() // waits for the deliveries
	if n, _ := s.counts(); n != 1 {
		t.Fatalf("%d outcomes received; deliveries %+v", n, sim.Webhooks())
	}
	got := s.creations[0]
	if got.RequestID != id || got.Success || len(got.Results) != 2 {
		t.Fatalf("outcome %+v", got)
	}
	ok, off := got.Results[0], got.Results[1]
	if !ok.Success || len(ok.Code.Reveal()) != 9 || ok.AuthID != sim.AuthsFor(u.ID)[0].ID {
		t.Errorf("lock A: %+v", ok)
	}
	if off.Success || off.ErrorCode != "ff" || !off.Code.IsZero() {
		t.Errorf("offline lock B: %+v", off)
	}
	if len(sim.Emails()) != 0 {
		t.Error("the Advanced API sent an email")
	}
	for _, d := range sim.Webhooks() {
		if d.Status != http.StatusOK {
			t.Errorf("delivery %+v not acknowledged", d)
		}
	}
}

func TestFaultsFromSimulator(t *testing.T) {
	tests := []struct {
		name     string
		fault    nukisim.Fault
		kind     error
		calls    int
		waits    int
		maxRetry int
	}{
		{"401", nukisim.Fault{Status: 401}, bridge.ErrNukiUnauthorized, 1, 0, 3},
		{"403 on GET /smartlock", nukisim.Fault{Status: 403}, bridge.ErrNukiUnauthorized, 1, 0, 3},
		{"429 with Retry-After then success", nukisim.Fault{Status: 429, RetryAfter: "2", Times: 1}, nil, 4, 1, 3},
		{"500 then success", nukisim.Fault{Status: 500, Times: 2}, nil, 5, 2, 3},
		{"500 for ever", nukisim.Fault{Status: 500}, bridge.ErrNukiUnavailable, 3, 2, 2},
		{"dropped connection then success", nukisim.Fault{Drop: true, Times: 2}, nil, -1, -1, 3}, // the transport may retry on its own
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _, _ := newSim(t, nukisim.Options{})
			srv := httptest.NewServer(sim)
			defer srv.Close()
			ws := &waits{}
			c := nukiweb.New(srv.URL, token, nukiweb.Options{Sleep: ws.sleep, MaxRetries: tt.maxRetry})
			sim.InjectFault(tt.fault)
			snap, err := c.Fetch(context.Background())
			if tt.kind == nil && err != nil || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Fatalf("got %v, want %v", err, tt.kind)
			}
			if tt.calls >= 0 && (snap.Calls != tt.calls || sim.Calls() != tt.calls) {
				t.Errorf("Calls %d, simulator %d, want %d", snap.Calls, sim.Calls(), tt.calls)
			}
			if tt.waits >= 0 && len(ws.d) != tt.waits {
				t.Errorf("waits %v, want %d", ws.d, tt.waits)
			}
			if tt.fault.RetryAfter != "" && (len(ws.d) == 0 || ws.d[0] != 2*time.Second) {
				t.Errorf("Retry-After not honoured: %v", ws.d)
			}
		})
	}
	t.Run("latency beyond the client timeout", func(t *testing.T) {
		sim, _, _ := newSim(t, nukisim.Options{})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		c := nukiweb.New(srv.URL, token, nukiweb.Options{MaxRetries: -1,
			HTTPClient: &http.Client{Timeout: 30 * time.Millisecond}})
		sim.InjectFault(nukisim.Fault{Latency: time.Hour})
		_, err := c.Fetch(context.Background())
		if !errors.Is(err, bridge.ErrNukiUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		sim := nukisim.New(nukisim.Options{Token: "the-right-one"})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		_, err := nukiweb.New(srv.URL, token, nukiweb.Options{}).Fetch(context.Background())
		var ne *bridge.NukiError
		if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiUnauthorized || ne.Description != "Not authorized" {
			t.Fatalf("got %v", err)
		}
	})
}
