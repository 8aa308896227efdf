package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// TestCreatePartlyRefusedByNuki: when Nuki Web refuses one of the locks,
// the answer is a problem that lists every invitation the create made, as
// the MQTT create answers ok false with their ids; they stay, and the
// scheduler retries the refused one.
func TestCreatePartlyRefusedByNuki(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	rb.sim.InjectFault(nukisim.Fault{Method: "PUT", Path: "/smartlock/22/auth", Status: 422, Times: 1})
	const body = `{"request_id":"r1","email":"guest@example.com","name":"Guest","smartlock_ids":[11,22]}`
	rec := do(t, h, "POST", "/api/v1/invitations", body)
	p := wantProblem(t, rec, http.StatusBadGateway, "Nuki Web refused 1 of 2 locks; those invitations are kept as failed and retried: Nuki Web rejected the request")
	if p.Type != "urn:nuki-invites:problem:nuki-rejected" {
		t.Errorf("type %q", p.Type)
	}
	made := decode[web.InvitationList](t, rec).Invitations
	statuses := map[int64]bridge.Status{}
	for _, inv := range made {
		statuses[inv.SmartlockID] = inv.Status
	}
	if len(made) != 2 || statuses[11] != bridge.StatusSending || statuses[22] != bridge.StatusFailed {
		t.Fatalf("the problem lists %v, want 11 sending and 22 failed", statuses)
	}
	listed := decode[web.InvitationList](t, do(t, h, "GET", "/api/v1/invitations", "")).Invitations
	if !slices.Equal(sorted(ids(listed)), sorted(ids(made))) {
		t.Errorf("listed %v, want what the problem named, %v", ids(listed), ids(made))
	}

	again := do(t, h, "POST", "/api/v1/invitations", body)
	if again.Code != http.StatusCreated || !slices.Equal(sorted(ids(decode[web.InvitationList](t, again).Invitations)), sorted(ids(made))) {
		t.Errorf("the same request id again: %d %s, want the same invitations", again.Code, again.Body)
	}

	if err := rb.svc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, inv := range made {
		if got := decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(inv.ID), "")); got.Status == bridge.StatusFailed {
			t.Errorf("%s is still failed after the scheduler ran: %s", inv.ID, got.LastError)
		}
	}
}

// TestCreateWhollyRefusedByNuki: nothing made, nothing listed with the
// problem.
func TestCreateWhollyRefusedByNuki(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	rb.sim.InjectFault(nukisim.Fault{Method: "PUT", Path: "/account/user", Status: 401})
	rec := do(t, s.Handler(), "POST", "/api/v1/invitations", `{"email":"guest@example.com","name":"Guest","smartlock_ids":[11]}`)
	wantProblem(t, rec, http.StatusBadGateway, "the Nuki API token was refused")
	if strings.Contains(rec.Body.String(), "invitations") {
		t.Errorf("a create that made nothing lists invitations: %s", rec.Body)
	}
}

// TestSyncAsksAndDoesNotWait: POST /api/v1/sync answers at once with the
// state as it stands, as the MQTT sync command does, and the sync it asked
// for follows.
func TestSyncAsksAndDoesNotWait(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{FollowUp: time.Hour}, nil)
	h := s.Handler()
	var syncs atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan struct{})
	rb.watchNuki(func(r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/smartlock" {
			return
		}
		switch syncs.Add(1) {
		case 1:
			close(first)
		case 2:
			close(started)
			<-release
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- rb.svc.Run(ctx, time.Hour) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Error(err)
		}
	}()
	defer close(release)
	<-first // the sync Run makes at start; the next comes only when asked for

	answered := make(chan int, 1)
	go func() { answered <- do(t, h, "POST", "/api/v1/sync", "").Code }()
	select {
	case code := <-answered:
		if code != http.StatusAccepted {
			t.Fatalf("POST /api/v1/sync: %d, want 202", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("POST /api/v1/sync did not answer while the sync it asked for waits for Nuki Web")
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no sync followed POST /api/v1/sync")
	}
	// Only the sync asked for, held before it reads Nuki Web, can see her.
	rb.guest("Dora", "dora@example.com", gardenGate)
	release <- struct{}{}
	for deadline := time.Now().Add(30 * time.Second); len(rb.svc.Invitations(bridge.Filter{Text: "dora"})) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the sync asked for did not adopt Dora's invitation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
