package nukisim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

const token = "t0ken"

// call makes one API request and returns the status and body.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func newServer(t *testing.T, opts Options) (*Sim, *httptest.Server) {
	t.Helper()
	opts.Token = token
	sim := New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv
}

var nineDigits = regexp.MustCompile(`^[1-9][0-9]{8}$`)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// advance moves the clock on and lets the simulator catch up.
func advance(sim *Sim, c *clock, d time.Duration) {
	c.Advance(d)
	sim.Settle()
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// decodeJSON unmarshals b into a T or fails the test.
func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return v
}

func TestStandardCreateSendsOneEmailPerLockWhenTheLockHasIt(t *testing.T) {
	c := newClock()
	sim, srv := newServer(t, Options{Now: c.Now})
	a, b := sim.AddLock(bridge.Lock{Name: "Front"}), sim.AddLock(bridge.Lock{Name: "Back"})
	u, err := sim.AddUser(bridge.User{Email: "ann@example.com", Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	asked := c.Now()
	status, body := call(t, srv, "PUT", "/smartlock/auth",
		fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d,%d]}`, u.ID, a.ID, b.ID))
	if status != http.StatusNoContent {
		t.Fatalf("create: %d %s", status, body)
	}
	if n, m := len(sim.Emails()), len(sim.AuthsFor(u.ID)); n != 0 || m != 0 {
		t.Fatalf("before the locks took it: %d emails, %d authorizations listed", n, m)
	}
	advance(sim, c, 2*time.Second)
	emails := sim.Emails()
	if len(emails) != 2 {
		t.Fatalf("%d emails, want 2", len(emails))
	}
	auths := sim.AuthsFor(u.ID)
	if len(auths) != 2 {
		t.Fatalf("auths %+v", auths)
	}
	for i, lock := range []int64{a.ID, b.ID} {
		e, got := emails[i], auths[i]
		if e.To != "ann@example.com" || e.SmartlockID != lock || e.AuthID != got.ID || !nineDigits.MatchString(e.Code) ||
			!e.At.Equal(asked.Add(2*time.Second)) {
			t.Errorf("email %d = %+v", i, e)
		}
		if got.SmartlockID != lock || got.LockCount != 0 || got.Type != bridge.AuthTypeApp || got.AuthID != 1 ||
			!got.CreationDate.Equal(asked) || got.OperationID != "" || got.AppID != 0 {
			t.Errorf("auth %d = %+v", i, got)
		}
	}

	t.Run("second app auth for the same user and lock is refused", func(t *testing.T) {
		status, body := call(t, srv, "PUT", fmt.Sprintf("/smartlock/%d/auth", a.ID),
			fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true}`, u.ID))
		if status != http.StatusConflict || !strings.Contains(string(body), `"code":409`) {
			t.Fatalf("got %d %s", status, body)
		}
		advance(sim, c, time.Minute)
		if len(sim.Emails()) != 2 {
			t.Fatal("a refused create sent an email")
		}
	})
	t.Run("accept shows nowhere", func(t *testing.T) {
		before := sim.AuthsFor(u.ID)
		if err := sim.Accept(a.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		advance(sim, c, 48*time.Hour) // past the lock's daily sync, too
		after := sim.AuthsFor(u.ID)
		if !before[0].Equal(after[0]) {
			t.Fatalf("accept changed the authorization\n%+v\n%+v", before[0], after[0])
		}
		if len(sim.Webhooks()) != 0 || len(sim.Log()) != 0 {
			t.Fatal("accept left a trace")
		}
		if err := sim.Accept(a.ID, 424242); !errors.Is(err, bridge.ErrNotFound) {
			t.Fatalf("accept of nothing: %v", err)
		}
	})
}

func TestDuplicateEmailIsBadRequest(t *testing.T) {
	_, srv := newServer(t, Options{})
	body := `{"email":"bob@example.com","name":"Bob"}`
	if status, b := call(t, srv, "PUT", "/account/user", body); status != http.StatusOK {
		t.Fatalf("first: %d %s", status, b)
	}
	status, b := call(t, srv, "PUT", "/account/user", strings.Replace(body, "bob@", "BOB@", 1))
	if status != http.StatusBadRequest {
		t.Fatalf("second: %d %s", status, b)
	}
	e := decodeJSON[wireError](t, b)
	if e.Code != 400 || e.ReasonPhrase != "Bad Request" || !strings.Contains(e.Description, "already exists") {
		t.Fatalf("error body %s", b)
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	sim, srv := newServer(t, Options{})
	for _, h := range []string{"", "Bearer nope", "Basic " + token} {
		req, _ := http.NewRequest("GET", srv.URL+"/smartlock", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"reasonPhrase":"Unauthorized"`) {
			t.Errorf("%q: %d %s", h, resp.StatusCode, b)
		}
	}
	if sim.Calls() != 3 {
		t.Errorf("calls %d, want 3", sim.Calls())
	}
}

// receiver records signed webhooks; it answers the first len(statuses)
// deliveries with those statuses, then 200.
type receiver struct {
	secret   string
	mu       sync.Mutex
	statuses []int
	got      []map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(rc.secret))
	m.Write(body)
	if r.Header.Get("X-Nuki-Signature-SHA256") != hex.EncodeToString(m.Sum(nil)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.statuses) > 0 {
		status := rc.statuses[0]
		rc.statuses = rc.statuses[1:]
		if status/100 != 2 {
			w.WriteHeader(status)
			return
		}
	}
	rc.got = append(rc.got, v)
}

// received returns the accepted deliveries whose "type" or "feature" is kind.
func (rc *receiver) received(kind string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, v := range rc.got {
		if v["type"] == kind || v["feature"] == kind {
			out = append(out, v)
		}
	}
	return out
}

func newReceiver(t *testing.T, statuses ...int) (*receiver, string) {
	rc := &receiver{secret: "whsec", statuses: statuses}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	return rc, hook.URL
}

func TestAdvancedCreateDeliversSignedWebhook(t *testing.T) {
	rc, url := newReceiver(t)
	c := newClock()
	sim, srv := newServer(t, Options{Now: c.Now, WebhookURL: url, WebhookSecret: "whsec"})
	ok, off, unsub := sim.AddLock(bridge.Lock{Name: "A"}), sim.AddLock(bridge.Lock{Name: "B"}), sim.AddLock(bridge.Lock{Name: "C"})
	_ = sim.SetOffline(off.ID, true)
	_ = sim.SetNeedsSubscription(unsub.ID, true)
	u, _ := sim.AddUser(bridge.User{Email: "cy@example.com", Name: "Cy"})

	status, body := call(t, srv, "PUT", "/smartlock/auth/advanced", fmt.Sprintf(
		`{"name":"Cy","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d,%d,%d]}`, u.ID, ok.ID, off.ID, unsub.ID))
	if status != http.StatusOK {
		t.Fatalf("advanced: %d %s", status, body)
	}
	answer := decodeJSON[wireAdvancedAnswer](t, body)
	if answer.RequestID == "" || !strings.Contains(answer.Error, fmt.Sprint(unsub.ID)) {
		t.Fatalf("answer %s", body)
	}
	advance(sim, c, time.Second)
	if len(sim.AuthsFor(u.ID)) != 0 || len(sim.Webhooks()) != 0 {
		t.Fatal("the outcome came before the locks could answer")
	}
	advance(sim, c, time.Second)
	waitFor(t, "the AuthCreation webhook", func() bool { return len(rc.received("AuthCreation")) == 1 })
	got := rc.received("AuthCreation")[0]
	if got["requestId"] != answer.RequestID || got["success"] != false {
		t.Fatalf("webhook %v", got)
	}
	detail := got["detail"].([]any)
	if len(detail) != 2 {
		t.Fatalf("detail %v, want the two subscribed locks", detail)
	}
	first, second := detail[0].(map[string]any), detail[1].(map[string]any)
	if first["success"] != true || !nineDigits.MatchString(fmt.Sprint(first["code"])) {
		t.Errorf("lock A: %v", first)
	}
	if second["success"] != false || second["errorCode"] != "ff" || second["code"] != nil {
		t.Errorf("offline lock B: %v", second)
	}
	if n := len(sim.Emails()); n != 0 {
		t.Errorf("advanced create sent %d emails", n)
	}
	auths := sim.AuthsFor(u.ID)
	if len(auths) != 1 || auths[0].SmartlockID != ok.ID || auths[0].ID != first["id"] || auths[0].AuthID != 1 {
		t.Errorf("auths %+v", auths)
	}
	if err := sim.SetOffline(off.ID, false); err != nil {
		t.Fatal(err)
	}
	advance(sim, c, time.Hour)
	if n := len(sim.AuthsFor(u.ID)); n != 1 {
		t.Errorf("the refused lock took the authorization later: %d listed", n)
	}
	sim.Close()
	var creations []Delivery
	for _, d := range sim.Webhooks() {
		if d.Kind == "AuthCreation" {
			creations = append(creations, d)
		}
	}
	if len(creations) != 1 || creations[0].Status != http.StatusOK || creations[0].RequestID != answer.RequestID ||
		creations[0].Attempt != 1 {
		t.Errorf("deliveries %+v", creations)
	}
}

func TestFaults(t *testing.T) {
	sim, srv := newServer(t, Options{})
	sim.AddLock(bridge.Lock{Name: "A"})

	t.Run("status with Retry-After, limited times", func(t *testing.T) {
		sim.InjectFault(Fault{Method: "GET", Path: "/smartlock", Status: 429, RetryAfter: "7", Times: 2})
		for i := range 3 {
			req, _ := http.NewRequest("GET", srv.URL+"/smartlock", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want, wantRA := 429, "7"
			if i == 2 {
				want, wantRA = 200, ""
			}
			if resp.StatusCode != want || resp.Header.Get("Retry-After") != wantRA {
				t.Errorf("request %d: %d Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
	})
	t.Run("method and path must match", func(t *testing.T) {
		sim.InjectFault(Fault{Method: "PUT", Path: "/account/user", Status: 500, Times: 1})
		if status, _ := call(t, srv, "GET", "/account/user", ""); status != 200 {
			t.Fatalf("GET hit the PUT fault: %d", status)
		}
		if status, _ := call(t, srv, "PUT", "/account/user", `{"email":"a@example.com","name":"A"}`); status != 500 {
			t.Fatalf("PUT missed the fault: %d", status)
		}
	})
	t.Run("drop closes the connection", func(t *testing.T) {
		sim.InjectFault(Fault{Path: "/smartlock", Drop: true}) // every time: the transport retries a GET once
		defer sim.ClearFaults()
		req, _ := http.NewRequest("GET", srv.URL+"/smartlock", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped request answered %d", resp.StatusCode)
		}
	})
	t.Run("latency beyond the client's patience", func(t *testing.T) {
		sim.InjectFault(Fault{Path: "/smartlock", Latency: time.Hour, Times: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/smartlock", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		_, err := srv.Client().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a deadline error", err)
		}
	})
	t.Run("cleared", func(t *testing.T) {
		sim.InjectFault(Fault{Status: 503})
		sim.ClearFaults()
		if status, _ := call(t, srv, "GET", "/smartlock", ""); status != 200 {
			t.Fatalf("got %d after ClearFaults", status)
		}
	})
}

func TestControlOverHTTP(t *testing.T) {
	c := newClock()
	sim, srv := newServer(t, Options{Now: c.Now})
	post := func(path, body string) (int, []byte) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	get := func(path string) []byte {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	status, body := post("/_sim/seed", `{"locks":2,"users":3,"auths":4}`)
	seeded := decodeJSON[Seeded](t, body)
	if status != 200 || seeded.Auths != 4 {
		t.Fatalf("seed: %d %s", status, body)
	}
	lock, user := seeded.Locks[0], seeded.Users[0]
	pairBody := fmt.Sprintf(`{"smartlockId":%d,"accountUserId":%d}`, lock, user)
	if status, body := post("/_sim/accept", pairBody); status != http.StatusNoContent {
		t.Fatalf("accept: %d %s", status, body)
	}
	if status, _ := post("/_sim/accept", `{"smartlockId":1,"accountUserId":1}`); status != http.StatusNotFound {
		t.Fatalf("accept of nothing: %d", status)
	}
	status, body = post("/_sim/use", pairBody)
	entry := decodeJSON[bridge.LogEntry](t, body)
	if status != http.StatusOK || entry.Action != bridge.ActionUnlock || entry.Trigger != bridge.TriggerApp ||
		entry.SmartlockID != lock || entry.AccountUserID != user {
		t.Fatalf("use: %d %s", status, body)
	}
	if status, _ := post("/_sim/use", `{"smartlockId":1,"accountUserId":1}`); status != http.StatusNotFound {
		t.Fatalf("use of nothing: %d", status)
	}
	if log := decodeJSON[[]bridge.LogEntry](t, get("/_sim/log")); len(log) != 1 || log[0].ID != entry.ID {
		t.Fatalf("log %+v", log)
	}
	if status, body := post("/_sim/sync", fmt.Sprintf(`{"smartlockId":%d}`, lock)); status != http.StatusNoContent {
		t.Fatalf("sync: %d %s", status, body)
	}
	if status, _ := post("/_sim/sync", `{"smartlockId":1}`); status != http.StatusNotFound {
		t.Fatalf("sync of nothing: %d", status)
	}
	c.Advance(2 * time.Second)
	// Reading the state directly does not catch up; settling over HTTP must.
	raw := func() bridge.Auth {
		sim.mu.Lock()
		defer sim.mu.Unlock()
		return sim.state.auths[sim.state.byPair[pair{user, lock}]].Auth
	}
	if got := raw(); got.LockCount != 0 {
		t.Fatalf("caught up before settling: %+v", got)
	}
	if status, _ := post("/_sim/settle", ""); status != http.StatusNoContent {
		t.Fatalf("settle: %d", status)
	}
	if got := raw(); got.LockCount != 1 || !got.LastActiveDate.Equal(entry.Date) {
		t.Fatalf("after sync and settle: %+v", raw())
	}
	if status, _ := post("/_sim/fault", `{"path":"/smartlock","status":502,"latency":"1ms","times":1}`); status != http.StatusNoContent {
		t.Fatalf("fault: %d", status)
	}
	if status, _ := call(t, srv, "GET", "/smartlock", ""); status != 502 {
		t.Fatalf("injected fault not applied: %d", status)
	}
	if status, _ := post("/_sim/offline", fmt.Sprintf(`{"smartlockId":%d,"offline":true}`, seeded.Locks[1])); status != http.StatusNoContent {
		t.Fatalf("offline: %d", status)
	}
	_, locks := call(t, srv, "GET", "/smartlock", "")
	if !strings.Contains(string(locks), `"serverState":4`) {
		t.Fatalf("offline lock not reported: %s", locks)
	}
	if b := get("/_sim/emails"); strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("emails after seeding: %s", b)
	}
	if calls := sim.Calls(); calls != 2 {
		t.Fatalf("calls %d: control requests must not count", calls)
	}
}

func TestSeedRefusesImpossible(t *testing.T) {
	sim := New(Options{})
	if _, err := sim.Seed(SeedOptions{Locks: 1, Users: 2, Auths: 3}); !errors.Is(err, bridge.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	if len(sim.Locks()) != 0 {
		t.Fatal("a refused seed added locks")
	}
}

func TestListenAndServeStopsOnCancel(t *testing.T) {
	sim := New(Options{Token: token})
	sim.AddLock(bridge.Lock{Name: "A"})
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := sim.ListenAndServe(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/smartlock", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	cancel()
	sim.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServedSimulatorSettlesOnItsOwn(t *testing.T) {
	sim := New(Options{Token: token, LockDelay: 10 * time.Millisecond}) // the real clock
	lock := sim.AddLock(bridge.Lock{Name: "A"})
	u, _ := sim.AddUser(bridge.User{Email: "ann@example.com", Name: "Ann"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := sim.ListenAndServe(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/smartlock/%d/auth", addr, lock.ID),
		strings.NewReader(fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true}`, u.ID)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	// Read the state as it stands: every accessor would catch up itself.
	waitFor(t, "the lock to take the authorization without a request", func() bool {
		sim.mu.Lock()
		defer sim.mu.Unlock()
		return len(sim.state.auths) == 1 && len(sim.emails) == 1
	})
	cancel()
	sim.Close()
}

func BenchmarkGetAllAuths(b *testing.B) {
	sim := New(Options{Token: token})
	if _, err := sim.Seed(SeedOptions{Locks: 200, Users: 5000, Auths: 10000, Accepted: 5000}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/smartlock/auth?types=0", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for b.Loop() {
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkSeed(b *testing.B) {
	for b.Loop() {
		sim := New(Options{})
		if _, err := sim.Seed(SeedOptions{Locks: 200, Users: 5000, Auths: 10000}); err != nil {
			b.Fatal(err)
		}
	}
}
