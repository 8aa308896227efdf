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

func TestStandardCreateSendsOneEmailPerLock(t *testing.T) {
	sim, srv := newServer(t, Options{})
	a, b := sim.AddLock(bridge.Lock{Name: "Front"}), sim.AddLock(bridge.Lock{Name: "Back"})
	u, err := sim.AddUser(bridge.User{Email: "ann@example.com", Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	status, body := call(t, srv, "PUT", fmt.Sprintf("/smartlock/auth"),
		fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d,%d]}`, u.ID, a.ID, b.ID))
	if status != http.StatusNoContent {
		t.Fatalf("create: %d %s", status, body)
	}
	emails := sim.Emails()
	if len(emails) != 2 {
		t.Fatalf("%d emails, want 2", len(emails))
	}
	for i, lock := range []int64{a.ID, b.ID} {
		e := emails[i]
		if e.To != "ann@example.com" || e.SmartlockID != lock || !nineDigits.MatchString(e.Code) {
			t.Errorf("email %d = %+v", i, e)
		}
	}
	auths := sim.AuthsFor(u.ID)
	if len(auths) != 2 || auths[0].LockCount != 0 || auths[0].Type != bridge.AuthTypeApp {
		t.Fatalf("auths %+v", auths)
	}

	t.Run("second app auth for the same user and lock is refused", func(t *testing.T) {
		status, body := call(t, srv, "PUT", fmt.Sprintf("/smartlock/%d/auth", a.ID),
			fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true}`, u.ID))
		if status != http.StatusConflict || !strings.Contains(string(body), `"code":409`) {
			t.Fatalf("got %d %s", status, body)
		}
		if len(sim.Emails()) != 2 {
			t.Fatal("a refused create sent an email")
		}
	})
	t.Run("offline lock refuses", func(t *testing.T) {
		c := sim.AddLock(bridge.Lock{Name: "Shed"})
		if err := sim.SetOffline(c.ID, true); err != nil {
			t.Fatal(err)
		}
		status, body := call(t, srv, "PUT", fmt.Sprintf("/smartlock/%d/auth", c.ID),
			fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true}`, u.ID))
		if status != http.StatusConflict || !strings.Contains(string(body), "offline") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("accept as the app would", func(t *testing.T) {
		if err := sim.Accept(a.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		got := sim.AuthsFor(u.ID)[0]
		if got.LockCount != 1 || got.AuthID == 0 || got.AppID == 0 || got.LastActiveDate.IsZero() {
			t.Fatalf("accepted auth %+v", got)
		}
		if err := sim.Accept(a.ID, 424242); !errors.Is(err, bridge.ErrNotFound) {
			t.Fatalf("accept of nothing: %v", err)
		}
	})
}

func TestDuplicateEmailIsConflict(t *testing.T) {
	_, srv := newServer(t, Options{})
	body := `{"email":"bob@example.com","name":"Bob"}`
	if status, b := call(t, srv, "PUT", "/account/user", body); status != http.StatusOK {
		t.Fatalf("first: %d %s", status, b)
	}
	status, b := call(t, srv, "PUT", "/account/user", strings.Replace(body, "bob@", "BOB@", 1))
	if status != http.StatusConflict {
		t.Fatalf("second: %d %s", status, b)
	}
	var e wireError
	if err := json.Unmarshal(b, &e); err != nil || e.Code != 409 || e.ReasonPhrase != "Conflict" || e.Description == "" {
		t.Fatalf("error body %s (%v)", b, err)
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

// receiver records signed webhooks.
type receiver struct {
	secret string
	got    chan map[string]any
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
	rc.got <- v
}

func TestAdvancedCreateDeliversSignedWebhook(t *testing.T) {
	rc := &receiver{secret: "whsec", got: make(chan map[string]any, 4)}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	sim, srv := newServer(t, Options{WebhookURL: hook.URL, WebhookSecret: "whsec"})
	ok, off, unsub := sim.AddLock(bridge.Lock{Name: "A"}), sim.AddLock(bridge.Lock{Name: "B"}), sim.AddLock(bridge.Lock{Name: "C"})
	_ = sim.SetOffline(off.ID, true)
	_ = sim.SetNeedsSubscription(unsub.ID, true)
	u, _ := sim.AddUser(bridge.User{Email: "cy@example.com", Name: "Cy"})

	status, body := call(t, srv, "PUT", "/smartlock/auth/advanced", fmt.Sprintf(
		`{"name":"Cy","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d,%d,%d]}`, u.ID, ok.ID, off.ID, unsub.ID))
	if status != http.StatusOK {
		t.Fatalf("advanced: %d %s", status, body)
	}
	var answer wireAdvancedAnswer
	_ = json.Unmarshal(body, &answer)
	if answer.RequestID == "" || !strings.Contains(answer.Error, fmt.Sprint(unsub.ID)) {
		t.Fatalf("answer %s", body)
	}
	var got map[string]any
	select {
	case got = <-rc.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
	}
	if got["type"] != "AuthCreation" || got["requestId"] != answer.RequestID || got["success"] != false {
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
	if len(auths) != 1 || auths[0].SmartlockID != ok.ID || auths[0].ID != first["id"] {
		t.Errorf("auths %+v", auths)
	}
	sim.Close()
	if d := sim.Webhooks(); len(d) != 1 || d[0].Status != http.StatusOK || d[0].RequestID != answer.RequestID {
		t.Errorf("deliveries %+v", d)
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
	sim, srv := newServer(t, Options{})
	post := func(path, body string) (int, []byte) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := post("/_sim/seed", `{"locks":2,"users":3,"auths":4}`)
	var seeded Seeded
	if err := json.Unmarshal(body, &seeded); status != 200 || err != nil || seeded.Auths != 4 {
		t.Fatalf("seed: %d %s", status, body)
	}
	if status, body := post("/_sim/accept", fmt.Sprintf(`{"smartlockId":%d,"accountUserId":%d}`,
		seeded.Locks[0], seeded.Users[0])); status != http.StatusNoContent {
		t.Fatalf("accept: %d %s", status, body)
	}
	if got := sim.AuthsFor(seeded.Users[0])[0]; got.LockCount != 1 {
		t.Fatalf("accept over HTTP did not redeem: %+v", got)
	}
	if status, _ := post("/_sim/accept", `{"smartlockId":1,"accountUserId":1}`); status != http.StatusNotFound {
		t.Fatalf("accept of nothing: %d", status)
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
	resp, err := srv.Client().Get(srv.URL + "/_sim/emails")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != "[]" {
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
