package nukiweb_test

// These tests run the client against the simulator over real HTTP. Only the
// tests import nukisim; the packages themselves know nothing of each other.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

func newSim(t *testing.T, opts nukisim.Options) (*nukisim.Sim, *nukiweb.Client, *waits) {
	t.Helper()
	opts.Token = token
	sim := nukisim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	ws := &waits{}
	return sim, nukiweb.New(srv.URL, token, nukiweb.Options{Sleep: ws.sleep, PageSize: 40}), ws
}

func TestAgainstSimulator(t *testing.T) {
	sim, c, _ := newSim(t, nukisim.Options{})
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
	accepted := 0
	for _, a := range snap.Auths {
		if a.LockCount > 0 && a.AuthID != 0 && !a.LastActiveDate.IsZero() {
			accepted++
		}
	}
	if accepted != 10 {
		t.Errorf("%d accepted auths read, want 10", accepted)
	}

	u, err := c.CreateUser(ctx, bridge.NewUser{Email: "dora@example.com", Name: "Dora", Language: "de"})
	if err != nil {
		t.Fatal(err)
	}
	var ne *bridge.NukiError
	if _, err := c.CreateUser(ctx, bridge.NewUser{Email: "dora@example.com", Name: "Dora"}); !errors.As(err, &ne) || ne.Status != 409 {
		t.Fatalf("duplicate CreateUser: %v", err)
	}
	if found, err := c.FindUser(ctx, "dora@example.com"); err != nil || found.ID != u.ID {
		t.Fatalf("FindUser: %+v %v", found, err)
	}
	lock := seeded.Locks[1]
	if err := c.CreateAuth(ctx, lock, bridge.Grant{AccountUserID: u.ID, Name: "Dora", RemoteAllowed: true,
		Access: bridge.Access{Until: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}); err != nil {
		t.Fatal(err)
	}
	if emails := sim.Emails(); len(emails) != 1 || emails[0].To != "dora@example.com" || emails[0].SmartlockID != lock {
		t.Fatalf("emails %+v", emails)
	}
	err = c.CreateAuth(ctx, lock, bridge.Grant{AccountUserID: u.ID, Name: "Dora"})
	if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiRejected || ne.Status != 409 || ne.Description == "" {
		t.Fatalf("second auth for the same user and lock: %v", err)
	}
	auths := sim.AuthsFor(u.ID)
	if len(auths) != 1 || !auths[0].Access.Until.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("auths %+v", auths)
	}
	found, err := c.FindAuth(ctx, lock, u.ID)
	if err != nil || found.ID != auths[0].ID {
		t.Fatalf("FindAuth = %+v, %v; want %s", found, err, auths[0].ID)
	}
	if _, err := c.FindAuth(ctx, seeded.Locks[2], u.ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindAuth on a lock without one: %v", err)
	}
	if err := c.DeleteAuth(ctx, lock, auths[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAuth(ctx, lock, auths[0].ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.FindAuth(ctx, lock, u.ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindAuth after the delete: %v", err)
	}
}

func TestAdvancedAgainstSimulatorWithWebhook(t *testing.T) {
	s := &sink{}
	hook := httptest.NewServer(nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{}))
	defer hook.Close()
	sim, c, _ := newSim(t, nukisim.Options{WebhookURL: hook.URL, WebhookSecret: secret})
	a, b := sim.AddLock(bridge.Lock{Name: "A"}), sim.AddLock(bridge.Lock{Name: "B"})
	_ = sim.SetOffline(b.ID, true)
	u, _ := sim.AddUser(bridge.User{Email: "eve@example.com", Name: "Eve"})

	id, err := c.CreateAdvancedAuth(context.Background(), []int64{a.ID, b.ID}, bridge.Grant{AccountUserID: u.ID, Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	sim.Close() // waits for the delivery
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
		{"403", nukisim.Fault{Status: 403}, bridge.ErrNukiUnauthorized, 1, 0, 3},
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
