package nukiweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

const token bridge.Secret = "s3cret-token"

// recorder is a fake Nuki Web: it answers with the handler and records what
// it was asked.
type recorder struct {
	mu       sync.Mutex
	requests []string // "METHOD /path?query"
	bodies   []string
	auth     []string
	handler  func(w http.ResponseWriter, r *http.Request, n int)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, r.Method+" "+r.URL.RequestURI())
	rc.bodies = append(rc.bodies, string(b))
	rc.auth = append(rc.auth, r.Header.Get("Authorization")+"|"+r.Header.Get("Accept"))
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rc.handler(w, r, n)
}

// list returns the requests made so far.
func (rc *recorder) list() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.requests)
}

// waits collects the backoff waits instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (ws *waits) sleep(ctx context.Context, d time.Duration) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.d = append(ws.d, d)
	return ctx.Err()
}

func newClient(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int), opts nukiweb.Options) (*nukiweb.Client, *recorder, *waits) {
	t.Helper()
	rc := &recorder{handler: h}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	ws := &waits{}
	if opts.Sleep == nil {
		opts.Sleep = ws.sleep
	}
	return nukiweb.New(srv.URL, token, opts), rc, ws
}

func nukiError(w http.ResponseWriter, status int, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%d,"description":%q,"homeRef":"/","reasonPhrase":%q,"uri":"x"}`, status, description,
		http.StatusText(status))
}

func TestFetch(t *testing.T) {
	users := make([]string, 250)
	for i := range users {
		users[i] = fmt.Sprintf(`{"accountUserId":%d,"accountId":1,"email":"u%d@example.com","name":"U%d","language":"de","creationDate":"2026-01-01T00:00:00.000Z","updateDate":"2026-01-01T00:00:00.000Z"}`, i+1, i+1, i+1)
	}
	c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/smartlock":
			fmt.Fprint(w, `[{"smartlockId":17,"accountId":1,"type":4,"authId":1,"name":"Front","favorite":false,"serverState":0,"adminPinState":0,"config":{"name":"Front","keypadPaired":false,"keypad2Paired":true}},
			 {"smartlockId":18,"accountId":1,"type":2,"authId":1,"name":"Gate","favorite":false,"serverState":0,"adminPinState":0}]`)
		case "/smartlock/auth":
			fmt.Fprint(w, `[
			 {"id":"a1","smartlockId":17,"accountUserId":3,"authId":0,"type":0,"name":"Ann","enabled":true,"remoteAllowed":true,"lockCount":0,
			  "allowedFromDate":"2026-11-26T10:00:00.000Z","allowedUntilDate":"2026-11-28T12:30:00+01:00","allowedWeekDays":96,
			  "allowedFromTime":480,"allowedUntilTime":1200,"creationDate":"2026-11-25T09:00:00Z","updateDate":"2026-11-25T09:00:00.123+0000"},
			 {"id":"a2","smartlockId":17,"accountUserId":4,"authId":5,"appId":77,"type":0,"name":"Bob","enabled":true,"remoteAllowed":false,"lockCount":3,
			  "lastActiveDate":"2026-11-26T08:00:00.000Z","creationDate":"2026-11-20T09:00:00.000Z"},
			 {"id":"a3","smartlockId":17,"type":0,"name":"Owner app","enabled":true,"remoteAllowed":true,"lockCount":9},
			 {"id":"a4","smartlockId":17,"accountUserId":5,"type":2,"name":"Fob","enabled":true,"remoteAllowed":false,"lockCount":1},
			 {"id":"k1","smartlockId":17,"authId":7,"code":345678,"type":13,"name":"Flat 3","enabled":true,"remoteAllowed":false,"lockCount":2,
			  "allowedFromDate":"2026-11-26T14:00:00.000Z","allowedUntilDate":"2026-11-28T10:00:00.000Z","creationDate":"2026-11-25T09:00:00.000Z"},
			 {"id":"k2","smartlockId":17,"code":"456789","type":13,"name":"String code","enabled":true,"remoteAllowed":false,"lockCount":0},
			 {"id":"k3","smartlockId":17,"code":{"odd":1},"type":13,"name":"Odd code","enabled":true,"remoteAllowed":false,"lockCount":0}]`)
		case "/account/user":
			off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			end := min(off+lim, len(users))
			fmt.Fprint(w, "["+strings.Join(users[min(off, end):end], ",")+"]")
		default:
			nukiError(w, 404, "no")
		}
	}, nukiweb.Options{})

	snap, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantRequests := []string{
		"GET /smartlock", "GET /smartlock/auth?types=0%2C13",
		"GET /account/user?limit=100&offset=0", "GET /account/user?limit=100&offset=100", "GET /account/user?limit=100&offset=200",
	}
	if got := rc.list(); fmt.Sprint(got) != fmt.Sprint(wantRequests) {
		t.Errorf("requests\n got %v\nwant %v", got, wantRequests)
	}
	if snap.Calls != 5 {
		t.Errorf("Calls = %d, want 5", snap.Calls)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, a := range rc.auth {
		if a != "Bearer s3cret-token|application/json" {
			t.Errorf("headers %q", a)
		}
	}
	if len(snap.Locks) != 2 || snap.Locks[0] != (bridge.Lock{ID: 17, Name: "Front", Type: 4, Keypad: true}) ||
		snap.Locks[1] != (bridge.Lock{ID: 18, Name: "Gate", Type: 2}) {
		t.Errorf("locks %+v", snap.Locks)
	}
	if len(snap.Users) != 250 || snap.Users[249] != (bridge.User{ID: 250, Email: "u250@example.com", Name: "U250", Language: "de"}) {
		t.Errorf("users: %d, last %+v", len(snap.Users), snap.Users[len(snap.Users)-1])
	}
	if len(snap.Auths) != 2 {
		t.Fatalf("auths %+v: want only app auths of account users", snap.Auths)
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	want := bridge.Auth{ID: "a1", SmartlockID: 17, AccountUserID: 3, Type: 0, Name: "Ann", Enabled: true,
		RemoteAllowed: true, Access: bridge.Access{From: utc("2026-11-26T10:00:00Z"), Until: utc("2026-11-28T11:30:00Z"),
			WeekDays: 96, FromTime: 480, UntilTime: 1200},
		CreationDate: utc("2026-11-25T09:00:00Z"), UpdateDate: utc("2026-11-25T09:00:00.123Z")}
	if got := snap.Auths[0]; !got.Equal(want) || got.Access.Until.Location() != time.UTC {
		t.Errorf("auth\n got %+v\nwant %+v", got, want)
	}
	if got := snap.Auths[1]; got.LockCount != 3 || got.AuthID != 5 || got.AppID != 77 || !got.LastActiveDate.Equal(utc("2026-11-26T08:00:00Z")) {
		t.Errorf("accepted auth %+v", got)
	}
	if len(snap.KeypadCodes) != 3 {
		t.Fatalf("keypad codes %+v", snap.KeypadCodes)
	}
	wantCode := bridge.Auth{ID: "k1", SmartlockID: 17, AuthID: 7, Type: 13, Name: "Flat 3", Enabled: true, LockCount: 2,
		Access:       bridge.Access{From: utc("2026-11-26T14:00:00Z"), Until: utc("2026-11-28T10:00:00Z")},
		CreationDate: utc("2026-11-25T09:00:00Z")}
	if got := snap.KeypadCodes[0]; !got.Equal(wantCode) || got.Code.Reveal() != "345678" {
		t.Errorf("keypad code\n got %+v (code %s)\nwant %+v", got, got.Code.Reveal(), wantCode)
	}
	if got := snap.KeypadCodes[1].Code.Reveal(); got != "456789" {
		t.Errorf("a code sent as a string reads %q", got)
	}
	if got := snap.KeypadCodes[2].Code.Reveal(); got != "" {
		t.Errorf("an odd code reads %q, want none", got)
	}
	for _, a := range snap.Auths {
		if !a.Code.IsZero() {
			t.Errorf("app authorization %s has a code", a.ID)
		}
	}
}

func TestFetchRefusesBadDates(t *testing.T) {
	c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/smartlock/auth" {
			fmt.Fprint(w, `[{"id":"a1","smartlockId":1,"accountUserId":3,"type":0,"name":"A","enabled":true,"remoteAllowed":true,"lockCount":0,"allowedUntilDate":"next tuesday"}]`)
			return
		}
		fmt.Fprint(w, `[]`)
	}, nukiweb.Options{})
	_, err := c.Fetch(context.Background())
	if !errors.Is(err, bridge.ErrNukiRejected) || !strings.Contains(err.Error(), "allowedUntilDate") {
		t.Fatalf("got %v", err)
	}
}

func TestErrors(t *testing.T) {
	past := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		handler     func(w http.ResponseWriter, r *http.Request, n int)
		do          func(c *nukiweb.Client) error
		kind        error
		status      int
		requests    int
		waits       []time.Duration
		description string
	}{
		{
			name:    "401 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 401, "Not authorized") },
			do:      fetch, kind: bridge.ErrNukiUnauthorized, status: 401, requests: 1, description: "Not authorized",
		},
		{
			name: "429 honours Retry-After seconds, then succeeds",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Retry-After", "7")
					nukiError(w, 429, "slow down")
					return
				}
				w.WriteHeader(204)
			},
			do: deleteAuth, requests: 2, waits: []time.Duration{7 * time.Second},
		},
		{
			name: "429 honours a Retry-After date",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Retry-After", past.Add(12*time.Second).Format(http.TimeFormat))
					nukiError(w, 429, "slow down")
					return
				}
				w.WriteHeader(204)
			},
			do: deleteAuth, requests: 2, waits: []time.Duration{12 * time.Second},
		},
		{
			name: "429 with a Retry-After too long gives up",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "3600")
				nukiError(w, 429, "slow down")
			},
			do: fetch, kind: bridge.ErrNukiRateLimited, status: 429, requests: 1,
		},
		{
			name: "500 then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					nukiError(w, 500, "oops")
					return
				}
				fmt.Fprint(w, `[]`)
			},
			do: fetch, requests: 4, // 1 failed + /smartlock, /smartlock/auth, /account/user
		},
		{
			name:    "5xx gives up after the retries",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 503, "down") },
			do:      fetch, kind: bridge.ErrNukiUnavailable, status: 503, requests: 4,
		},
		{
			name:    "PUT is not retried after a 500: it may have created something",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 500, "oops") },
			do:      createAuth, kind: bridge.ErrNukiUnavailable, status: 500, requests: 1,
		},
		{
			name: "PUT is retried after a 429",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					w.Header().Set("Retry-After", "1")
					nukiError(w, 429, "slow down")
					return
				}
				w.WriteHeader(204)
			},
			do: createAuth, requests: 2, waits: []time.Duration{time.Second},
		},
		{
			name:    "other 4xx carry Nuki's description",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 422, "Parameter conflicts") },
			do:      createAuth, kind: bridge.ErrNukiRejected, status: 422, requests: 1, description: "Parameter conflicts",
		},
		{
			name: "dropped connection is retried for reads",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n < 2 { // the transport itself retries a dropped GET once
					hijackClose(w)
					return
				}
				fmt.Fprint(w, `[]`)
			},
			do: fetch, requests: 5,
		},
		{
			name:    "dropped connection on PUT is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) { hijackClose(w) },
			do:      createAuth, kind: bridge.ErrNukiUnavailable, requests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, ws := newClient(t, tt.handler, nukiweb.Options{Now: func() time.Time { return past }})
			err := tt.do(c)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				var ne *bridge.NukiError
				if !errors.As(err, &ne) || !errors.Is(err, tt.kind) {
					t.Fatalf("got %v, want a NukiError of kind %v", err, tt.kind)
				}
				if ne.Status != tt.status || ne.Description != tt.description && tt.description != "" {
					t.Errorf("status %d description %q", ne.Status, ne.Description)
				}
				if strings.Contains(err.Error(), token.Reveal()) || strings.Contains(err.Error(), "accountUserId") {
					t.Errorf("error leaks a secret or a body: %v", err)
				}
			}
			if got := rc.list(); len(got) != tt.requests {
				t.Errorf("%d requests, want %d: %v", len(got), tt.requests, got)
			}
			if tt.waits != nil && fmt.Sprint(ws.d) != fmt.Sprint(tt.waits) {
				t.Errorf("waits %v, want %v", ws.d, tt.waits)
			}
		})
	}
}

func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func fetch(c *nukiweb.Client) error {
	_, err := c.Fetch(context.Background())
	return err
}

func deleteAuth(c *nukiweb.Client) error {
	return c.DeleteAuth(context.Background(), 17, "a1")
}

func createAuth(c *nukiweb.Client) error {
	return c.CreateAuth(context.Background(), 17, bridge.Grant{AccountUserID: 3, Name: "Ann"})
}

func TestBackoffIsBoundedAndGrows(t *testing.T) {
	c, _, ws := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 502, "bad gateway") },
		nukiweb.Options{MaxRetries: 6, MaxBackoff: 2 * time.Second})
	if err := fetch(c); !errors.Is(err, bridge.ErrNukiUnavailable) {
		t.Fatalf("got %v", err)
	}
	if len(ws.d) != 6 {
		t.Fatalf("waits %v, want 6", ws.d)
	}
	for i, d := range ws.d {
		ceiling := min(250*time.Millisecond<<i, 2*time.Second)
		if d < ceiling/2 || d > ceiling {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, ceiling/2, ceiling)
		}
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c, _, ws := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, nukiweb.Options{HTTPClient: &http.Client{Timeout: 20 * time.Millisecond}, MaxRetries: 1})
	err := fetch(c)
	if !errors.Is(err, bridge.ErrNukiUnavailable) {
		t.Fatalf("got %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v does not say it timed out", err)
	}
	if len(ws.d) != 1 {
		t.Errorf("waits %v, want one retry", ws.d)
	}
}

func TestRefusedConnectionRetriesEvenPuts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ws := &waits{}
	c := nukiweb.New("http://"+addr, token, nukiweb.Options{Sleep: ws.sleep, MaxRetries: 2})
	err = c.CreateAuth(context.Background(), 1, bridge.Grant{AccountUserID: 1, Name: "A"})
	if !errors.Is(err, bridge.ErrNukiUnavailable) {
		t.Fatalf("got %v", err)
	}
	if len(ws.d) != 2 {
		t.Errorf("waits %v: a refused connection proves nothing was sent, so a PUT is retried", ws.d)
	}
}

func TestUsersAndAuths(t *testing.T) {
	c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.Method + " " + r.URL.EscapedPath() {
		case "GET /account/user":
			if r.URL.Query().Get("email") == "ann@example.com" {
				fmt.Fprint(w, `[{"accountUserId":3,"email":"Ann@example.com","name":"Ann","language":"en"}]`)
				return
			}
			fmt.Fprint(w, `[]`)
		case "PUT /account/user":
			if strings.Contains(r.Header.Get("Content-Type"), "json") && strings.Contains(readBody(r), "taken@") {
				nukiError(w, 409, "E-Mail address already exists")
				return
			}
			fmt.Fprint(w, `{"accountUserId":9,"accountId":1,"email":"new@example.com","name":"New","language":"de"}`)
		case "PUT /smartlock/17/auth":
			w.WriteHeader(204)
		case "PUT /smartlock/auth/advanced":
			fmt.Fprint(w, `{"requestId":"req-1"}`)
		case "DELETE /smartlock/17/auth/a%2F1":
			w.WriteHeader(204)
		default:
			nukiError(w, 404, "not found")
		}
	}, nukiweb.Options{})
	ctx := context.Background()

	u, err := c.FindUser(ctx, "ann@example.com")
	if err != nil || u.ID != 3 {
		t.Fatalf("FindUser: %+v %v", u, err)
	}
	if _, err := c.FindUser(ctx, "nobody@example.com"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("FindUser of nobody: %v", err)
	}
	u, err = c.CreateUser(ctx, bridge.NewUser{Email: "new@example.com", Name: "New", Language: "de"})
	if err != nil || u != (bridge.User{ID: 9, Email: "new@example.com", Name: "New", Language: "de"}) {
		t.Fatalf("CreateUser: %+v %v", u, err)
	}
	_, err = c.CreateUser(ctx, bridge.NewUser{Email: "taken@example.com", Name: "T"})
	var ne *bridge.NukiError
	if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiRejected || !errors.Is(err, bridge.ErrConflict) {
		t.Fatalf("CreateUser refused for an email the lookup cannot find: %v", err)
	}
	from := time.Date(2026, 12, 1, 15, 0, 0, 0, time.FixedZone("CET", 3600))
	g := bridge.Grant{AccountUserID: 3, Name: "Ann", RemoteAllowed: true,
		Access: bridge.Access{From: from, WeekDays: 96, FromTime: 60}}
	if err := c.CreateAuth(ctx, 17, g); err != nil {
		t.Fatalf("CreateAuth: %v", err)
	}
	id, err := c.CreateAdvancedAuth(ctx, []int64{17, 18}, g)
	if err != nil || id != "req-1" {
		t.Fatalf("CreateAdvancedAuth: %q %v", id, err)
	}
	if err := c.DeleteAuth(ctx, 17, "a/1"); err != nil {
		t.Fatalf("DeleteAuth: %v", err)
	}
	if err := c.DeleteAuth(ctx, 18, "zz"); !errors.Is(err, bridge.ErrNotFound) || !errors.Is(err, bridge.ErrNukiRejected) {
		t.Fatalf("DeleteAuth of nothing: %v", err)
	}

	bodies := map[string]map[string]any{}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, r := range rc.requests {
		if rc.bodies[i] != "" {
			var m map[string]any
			if err := json.Unmarshal([]byte(rc.bodies[i]), &m); err != nil {
				t.Fatal(err)
			}
			bodies[r] = m
		}
	}
	std := bodies["PUT /smartlock/17/auth"]
	if std["type"] != 0.0 || std["accountUserId"] != 3.0 || std["allowedFromDate"] != "2026-12-01T14:00:00.000Z" ||
		std["allowedWeekDays"] != 96.0 || std["remoteAllowed"] != true || std["allowedUntilDate"] != nil {
		t.Errorf("standard create body %v", std)
	}
	adv := bodies["PUT /smartlock/auth/advanced"]
	if _, hasType := adv["type"]; hasType || fmt.Sprint(adv["smartlockIds"]) != "[17 18]" || adv["name"] != "Ann" {
		t.Errorf("advanced create body %v", adv)
	}
}

func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestAdvancedAnswerWithError(t *testing.T) {
	c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
		fmt.Fprint(w, `{"requestId":"req-2","error":"Smartlocks need a subscription: 18"}`)
	}, nukiweb.Options{})
	id, err := c.CreateAdvancedAuth(context.Background(), []int64{17, 18}, bridge.Grant{AccountUserID: 3, Name: "A"})
	var ne *bridge.NukiError
	if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiRejected || !strings.Contains(ne.Description, "18") {
		t.Fatalf("got %v", err)
	}
	if id != "req-2" {
		t.Errorf("request id %q, want it kept for the accepted locks", id)
	}
}

func BenchmarkDecode10kAuths(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 10_000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"id":"%024x","smartlockId":%d,"accountUserId":%d,"authId":%d,"appId":0,"type":0,"name":"Guest %d","enabled":true,"remoteAllowed":true,"lockCount":%d,"allowedFromDate":"2026-11-26T10:00:00.000Z","allowedUntilDate":"2026-11-28T10:00:00.000Z","allowedWeekDays":127,"allowedFromTime":0,"allowedUntilTime":0,"creationDate":"2026-11-25T10:00:00.000Z","updateDate":"2026-11-25T10:00:00.000Z"}`,
			i, 17000+i%200, 1000+i%5000, i%3, i, i%2)
	}
	sb.WriteString("]")
	auths := sb.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/smartlock/auth" {
			io.WriteString(w, auths)
			return
		}
		io.WriteString(w, "[]")
	}))
	defer srv.Close()
	c := nukiweb.New(srv.URL, token, nukiweb.Options{})
	b.SetBytes(int64(len(auths)))
	for b.Loop() {
		snap, err := c.Fetch(context.Background())
		if err != nil || len(snap.Auths) != 10_000 {
			b.Fatal(len(snap.Auths), err)
		}
	}
}

func syncLock(c *nukiweb.Client) error {
	return c.SyncLock(context.Background(), 17)
}

func findAuth(c *nukiweb.Client) error {
	_, err := c.FindAuth(context.Background(), 17, 3)
	return err
}

// TestStatusMapping checks that every refusal reaches the core as a Kind and
// a Reason of its own, never as an HTTP status it would have to read.
func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		do     func(c *nukiweb.Client) error
		kind   error
		reason error // nil: none
	}{
		{"401 on a lock's endpoint is the token", 401, deleteAuth, bridge.ErrNukiUnauthorized, nil},
		{"403 on GET /smartlock is the token", 403, fetch, bridge.ErrNukiUnauthorized, nil},
		{"403 on GET /smartlock/auth is the token", 403, findAuth, bridge.ErrNukiUnauthorized, nil},
		{"403 on a lock's DELETE is that lock", 403, deleteAuth, bridge.ErrNukiLockDenied, nil},
		{"403 on a lock's PUT is that lock", 403, createAuth, bridge.ErrNukiLockDenied, nil},
		{"403 on a lock's sync is that lock", 403, syncLock, bridge.ErrNukiLockDenied, nil},
		{"400 is invalid", 400, createAuth, bridge.ErrNukiRejected, bridge.ErrInvalid},
		{"404 is not found", 404, deleteAuth, bridge.ErrNukiRejected, bridge.ErrNotFound},
		{"409 is a conflict", 409, createAuth, bridge.ErrNukiRejected, bridge.ErrConflict},
		{"423 is busy", 423, deleteAuth, bridge.ErrNukiRejected, bridge.ErrBusy},
		{"422 is rejected without a reason", 422, createAuth, bridge.ErrNukiRejected, nil},
	}
	reasons := []error{bridge.ErrInvalid, bridge.ErrNotFound, bridge.ErrConflict, bridge.ErrBusy}
	kinds := []error{bridge.ErrNukiUnauthorized, bridge.ErrNukiLockDenied, bridge.ErrNukiRejected,
		bridge.ErrNukiRateLimited, bridge.ErrNukiUnavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				nukiError(w, tt.status, "Nuki says no")
			}, nukiweb.Options{})
			err := tt.do(c)
			var ne *bridge.NukiError
			if !errors.As(err, &ne) {
				t.Fatalf("got %v, want a *bridge.NukiError", err)
			}
			if ne.Kind != tt.kind || ne.Reason != tt.reason {
				t.Errorf("Kind %v, Reason %v; want %v, %v", ne.Kind, ne.Reason, tt.kind, tt.reason)
			}
			for _, k := range kinds {
				if errors.Is(err, k) != (k == tt.kind) {
					t.Errorf("errors.Is(err, %v) = %v", k, !(k == tt.kind))
				}
			}
			for _, r := range reasons {
				if errors.Is(err, r) != (r == tt.reason) {
					t.Errorf("errors.Is(err, %v) = %v", r, !(r == tt.reason))
				}
			}
			if ne.Err != nil {
				t.Errorf("Err = %v: a status is not a transport error", ne.Err)
			}
			if ne.Description != "Nuki says no" || ne.Status != tt.status {
				t.Errorf("Status %d, Description %q: Nuki's own words are lost", ne.Status, ne.Description)
			}
		})
	}
}

// TestBusyIsRetried checks that a 423 (an earlier change still running on
// the lock) is waited out, for writes too: Nuki refused it before doing
// anything.
func TestBusyIsRetried(t *testing.T) {
	busyThen := func(times, status int) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, r *http.Request, n int) {
			if n < times {
				nukiError(w, 423, "Locked by another operation")
				return
			}
			w.WriteHeader(status)
		}
	}
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request, n int)
		do       func(c *nukiweb.Client) error
		opts     nukiweb.Options
		requests int
		busy     bool // the call fails with ErrBusy
	}{
		{name: "DELETE: 423 then 204", handler: busyThen(1, 204), do: deleteAuth, requests: 2},
		{name: "PUT: 423 twice then 204", handler: busyThen(2, 204), do: createAuth, requests: 3},
		{name: "POST sync: 423 then 204", handler: busyThen(1, 204), do: syncLock, requests: 2},
		{name: "423 for ever gives up after the retries", handler: busyThen(100, 204), do: deleteAuth,
			opts: nukiweb.Options{MaxRetries: 2}, requests: 3, busy: true},
		{name: "no retries allowed", handler: busyThen(100, 204), do: createAuth,
			opts: nukiweb.Options{MaxRetries: -1}, requests: 1, busy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.MaxBackoff = 5 * time.Second
			c, rc, ws := newClient(t, tt.handler, tt.opts)
			err := tt.do(c)
			if tt.busy != (err != nil) || tt.busy && (!errors.Is(err, bridge.ErrBusy) || !errors.Is(err, bridge.ErrNukiRejected)) {
				t.Fatalf("got %v, want busy %v", err, tt.busy)
			}
			if got := rc.list(); len(got) != tt.requests {
				t.Errorf("%d requests, want %d: %v", len(got), tt.requests, got)
			}
			if len(ws.d) != tt.requests-1 {
				t.Errorf("waits %v, want %d", ws.d, tt.requests-1)
			}
			for i, d := range ws.d {
				ceiling := min(time.Second<<i, 5*time.Second)
				if d < ceiling/2 || d > ceiling {
					t.Errorf("wait %d = %v, want within [%v, %v]", i, d, ceiling/2, ceiling)
				}
			}
		})
	}
	t.Run("Retry-After on a 423 is honoured", func(t *testing.T) {
		c, _, ws := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				w.Header().Set("Retry-After", "4")
				nukiError(w, 423, "Locked")
				return
			}
			w.WriteHeader(204)
		}, nukiweb.Options{})
		if err := deleteAuth(c); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ws.d) != "[4s]" {
			t.Errorf("waits %v, want [4s]", ws.d)
		}
	})
}

func TestSyncLock(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request, n int)
		requests int
		kind     error
	}{
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(204) }, requests: 1},
		{name: "a repeated sync does no harm, so a 502 is retried", handler: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				nukiError(w, 502, "bad gateway")
				return
			}
			w.WriteHeader(204)
		}, requests: 2},
		{name: "400", handler: func(w http.ResponseWriter, r *http.Request, n int) { nukiError(w, 400, "Bad Parameter") },
			requests: 1, kind: bridge.ErrNukiRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, _ := newClient(t, tt.handler, nukiweb.Options{})
			err := c.SyncLock(context.Background(), 17)
			if tt.kind == nil && err != nil || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Fatalf("got %v, want %v", err, tt.kind)
			}
			got := rc.list()
			if len(got) != tt.requests {
				t.Fatalf("%d requests, want %d: %v", len(got), tt.requests, got)
			}
			for _, r := range got {
				if r != "POST /smartlock/17/sync" {
					t.Errorf("request %q", r)
				}
			}
		})
	}
}
