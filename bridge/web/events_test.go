package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

type sse struct {
	event string
	data  string
}

// openStream connects to the event stream and returns its events.
func openStream(t *testing.T, url string) <-chan sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sse, 100)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			case line == "" && cur.event != "":
				out <- cur
				cur = sse{}
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan sse) sse {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		checkEvent(t, ev)
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse{}
}

// eventSchemas are the schemas of openapi.json the events' data follow, as
// its description of /api/v1/events says.
var eventSchemas = map[string]string{
	"state":      "/components/schemas/SyncState",
	"invitation": "/components/schemas/Invitation",
}

// checkEvent fails t when an event's data is not what openapi.json
// documents for it.
func checkEvent(t *testing.T, ev sse) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	if pointer, ok := eventSchemas[ev.event]; ok {
		if err := c.validate("event "+ev.event, pointer, []byte(ev.data)); err != nil {
			t.Error(err)
		}
	}
}

func TestEventStream(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	g := seedGuests(rb)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close) // after the streams are cancelled (cleanups run last-in first-out)

	events := openStream(t, ts.URL)
	first := next(t, events)
	var st web.SyncState
	if err := json.Unmarshal([]byte(first.data), &st); first.event != "state" || err != nil || st.SyncStatus != bridge.SyncOK {
		t.Fatalf("first event %+v, want the sync state", first)
	}

	if rec := do(t, s.Handler(), "POST", "/api/v1/invitations/"+string(g.alice)+"/revoke", ""); rec.Code != 200 {
		t.Fatalf("revoke: %d", rec.Code)
	}
	ev := next(t, events)
	var inv web.Invitation
	if err := json.Unmarshal([]byte(ev.data), &inv); ev.event != "invitation" || err != nil || inv.ID != g.alice || inv.Status != bridge.StatusRevoked {
		t.Fatalf("event %+v, want invitation %s revoked", ev, g.alice)
	}
	if inv.History != nil {
		t.Error("the event carries the history")
	}

	for ev.event != "state" { // the revoke's own state
		ev = next(t, events)
	}
	if rec := do(t, s.Handler(), "POST", "/api/v1/sync", ""); rec.Code != http.StatusAccepted {
		t.Fatalf("sync: %d", rec.Code)
	}
	rb.sync() // as the Service's loop does when asked
	for ev = next(t, events); ev.event == "invitation"; ev = next(t, events) {
	}
	if err := json.Unmarshal([]byte(ev.data), &st); ev.event != "state" || err != nil || st.LastSync.IsZero() {
		t.Fatalf("event %+v after a sync, want the state", ev)
	}
}

// A client that does not read must never hold up the Service: the hub keeps
// the latest state of each invitation and, past its limit, asks for a reload.
func TestEventStreamNeverBlocksTheService(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close) // after the streams are cancelled (cleanups run last-in first-out)
	events := openStream(t, ts.URL)
	next(t, events) // the first state: the hub has subscribed
	subs := rb.watched.subscribers()
	if len(subs) != 1 {
		t.Fatalf("%d subscribers, want 1 while a stream is open", len(subs))
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5000 {
			inv := bridge.Invitation{ID: bridge.MakeInviteID(11, int64(i+1)), SmartlockID: 11, AccountUserID: int64(i + 1),
				Delivery: bridge.DeliveryNuki, Status: bridge.StatusPending}
			subs[0].InvitationEvents([]bridge.Event{{Type: bridge.EventChanged, Invitation: inv}})
			subs[0].SyncStateChanged(bridge.SyncState{Status: bridge.SyncRunning})
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("publishing 10000 changes to a stream took over 20s: the hub blocks")
	}
	seen := map[string]bool{}
	for !seen["resync"] || !seen["state"] {
		ev := next(t, events)
		seen[ev.event] = true
	}
}

func TestEventStreamUnsubscribesWhenLastClientLeaves(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close) // after the streams are cancelled (cleanups run last-in first-out)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(res.Body).ReadString('\n')
	if n := len(rb.watched.subscribers()); n != 1 {
		t.Fatalf("%d subscribers with one stream open, want 1", n)
	}
	cancel()
	res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(rb.watched.subscribers()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed 10s after the only stream closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.Listener = ln; o.ShutdownTimeout = 5 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	url := "http://" + ln.Addr().String()

	var res *http.Response
	for range 100 {
		if res, err = http.Get(url + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	events := openStream(t, url) // an open stream must not hold up the shutdown
	next(t, events)

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run returned %v, want nil after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	for ev := range events {
		t.Errorf("unexpected event after shutdown: %+v", ev)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

func TestRunReportsListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.Addr = ln.Addr().String() })
	err = s.Run(context.Background())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || !strings.Contains(err.Error(), fmt.Sprint("listen on ", ln.Addr())) {
		t.Errorf("Run on a taken port: %v, want a listen error", err)
	}
}
