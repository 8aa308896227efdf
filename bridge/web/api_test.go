package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

func newTestServer(t *testing.T, tweak func(*web.Options)) (*web.Server, *fakeService) {
	t.Helper()
	f := newFake()
	// httptest.NewRequest's requests name example.com.
	opts := web.Options{Service: f, AllowedHosts: []string{"example.com"}, Now: func() time.Time { return fakeNow }}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

// do sends one request through the handler.
func do(t *testing.T, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		switch hdr[i] {
		case "RemoteAddr":
			req.RemoteAddr = hdr[i+1]
			continue
		case "Host":
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// wantProblem checks a problem+json answer and returns it.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, detailHas string) problemBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Errorf("problem %+v: want status %d with a type and title", p, status)
	}
	if !strings.Contains(p.Detail, detailHas) {
		t.Errorf("detail %q, want it to contain %q", p.Detail, detailHas)
	}
	return p
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return v
}

func seed(f *fakeService) {
	f.add(bridge.Invitation{SmartlockID: 11, AccountUserID: 1, Name: "Alice", Email: "alice@example.com",
		Status: bridge.StatusPending, Send: 1, SentAt: fakeNow.Add(-2 * time.Hour), ExpiresAt: fakeNow.Add(46 * time.Hour),
		History: []bridge.HistoryEntry{{At: fakeNow.Add(-2 * time.Hour), Event: bridge.EventCreated, Actor: "mqtt"}}})
	f.add(bridge.Invitation{SmartlockID: 22, AccountUserID: 2, Name: "Bob", Email: "bob@example.com",
		Status: bridge.StatusAccepted, Send: 1, SentAt: fakeNow.Add(-30 * time.Hour), ExpiresAt: fakeNow.Add(18 * time.Hour),
		AcceptedAt: fakeNow.Add(-1 * time.Hour)})
	f.add(bridge.Invitation{SmartlockID: 11, AccountUserID: 3, Name: "Carol", Email: "carol@example.com",
		Status: bridge.StatusExpired, Send: 2, ResendCount: 1, SentAt: fakeNow.Add(-50 * time.Hour), ExpiresAt: fakeNow.Add(-2 * time.Hour)})
}

func ids(invs []bridge.Invitation) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, string(inv.ID))
	}
	return out
}

func TestListInvitations(t *testing.T) {
	s, f := newTestServer(t, nil)
	seed(f)
	tests := []struct {
		query      string
		wantIDs    []string
		wantFilter bridge.Filter
	}{
		{"", []string{"11-1", "11-3", "22-2"}, bridge.Filter{}},
		{"?status=pending", []string{"11-1"}, bridge.Filter{Statuses: []bridge.Status{"pending"}}},
		{"?status=pending,expired", []string{"11-1", "11-3"}, bridge.Filter{Statuses: []bridge.Status{"pending", "expired"}}},
		{"?status=pending&status=accepted", []string{"11-1", "22-2"}, bridge.Filter{Statuses: []bridge.Status{"pending", "accepted"}}},
		{"?lock=22", []string{"22-2"}, bridge.Filter{SmartlockID: 22}},
		{"?q=CAROL", []string{"11-3"}, bridge.Filter{Text: "CAROL"}},
		{"?q=nobody", []string{}, bridge.Filter{Text: "nobody"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := do(t, s.Handler(), "GET", "/api/v1/invitations"+tt.query, "")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decode[struct{ Invitations []bridge.Invitation }](t, rec)
			if !reflect.DeepEqual(ids(got.Invitations), tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids(got.Invitations), tt.wantIDs)
			}
			if !reflect.DeepEqual(f.lastFilter, tt.wantFilter) {
				t.Errorf("filter %+v, want %+v", f.lastFilter, tt.wantFilter)
			}
		})
	}
	for _, bad := range []struct{ query, detail string }{
		{"?status=open", `status "open" is not one of sending, pending, expiring_soon`},
		{"?lock=front", `lock "front" is not a lock id`},
		{"?lock=-3", `lock "-3" is not a lock id`},
	} {
		t.Run(bad.query, func(t *testing.T) {
			wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations"+bad.query, ""), 400, bad.detail)
		})
	}
}

func TestGetInvitation(t *testing.T) {
	s, f := newTestServer(t, nil)
	seed(f)
	rec := do(t, s.Handler(), "GET", "/api/v1/invitations/11-1", "")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	inv := decode[bridge.Invitation](t, rec)
	if inv.Name != "Alice" || len(inv.History) != 1 || inv.History[0].Actor != "mqtt" {
		t.Errorf("got %+v, want Alice with her history", inv)
	}
	wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations/11-9", ""), 404, "no invitation 11-9")
	wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations/alice", ""), 400, `"alice" is not an invitation id`)
}

const goodCreate = `{"request_id":"r1","email":"guest@example.com","name":"Guest","language":"de",
 "smartlock_ids":[11,22],"delivery":"custom","remote_allowed":true,
 "allowed_from":"2026-05-05T08:00:00+02:00","allowed_until":"2026-05-09T20:00:00+02:00",
 "allowed_weekdays":["mon","fri"],"allowed_from_time":"08:30","allowed_until_time":"18:00"}`

func TestCreate(t *testing.T) {
	s, f := newTestServer(t, nil)
	rec := do(t, s.Handler(), "POST", "/api/v1/invitations", goodCreate)
	if rec.Code != 201 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := decode[struct{ Invitations []bridge.Invitation }](t, rec)
	if len(got.Invitations) != 2 {
		t.Fatalf("created %d invitations, want 2", len(got.Invitations))
	}
	cet := time.FixedZone("", 2*3600)
	want := bridge.CreateRequest{
		RequestID: "r1", Email: "guest@example.com", Name: "Guest", Language: "de", SmartlockIDs: []int64{11, 22},
		Delivery: bridge.DeliveryCustom, RemoteAllowed: true, Actor: "web",
		Access: bridge.Access{
			From: time.Date(2026, 5, 5, 8, 0, 0, 0, cet), Until: time.Date(2026, 5, 9, 20, 0, 0, 0, cet),
			WeekDays: 64 | 4, FromTime: 8*60 + 30, UntilTime: 18 * 60,
		},
	}
	gotReq := f.lastCreate
	if !gotReq.Access.Equal(want.Access) {
		t.Errorf("access %+v, want %+v", gotReq.Access, want.Access)
	}
	gotReq.Access, want.Access = bridge.Access{}, bridge.Access{}
	if !reflect.DeepEqual(gotReq, want) {
		t.Errorf("request %+v, want %+v", gotReq, want)
	}

	t.Run("defaults and bitmask", func(t *testing.T) {
		rec := do(t, s.Handler(), "POST", "/api/v1/invitations", `{"email":"x@example.org","name":"X","smartlock_ids":[11],"allowed_weekdays":127}`)
		if rec.Code != 201 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if f.lastCreate.Delivery != bridge.DeliveryNuki || f.lastCreate.Access.WeekDays != 127 {
			t.Errorf("request %+v, want nuki delivery and every weekday", f.lastCreate)
		}
	})
}

func TestCreateRefusesBadBodies(t *testing.T) {
	s, _ := newTestServer(t, nil)
	tests := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"empty", "", 400, "needs a JSON body"},
		{"not json", "email=x", 400, "not valid JSON"},
		{"array", `[]`, 400, "the request must be a JSON object"},
		{"two objects", `{"email":"a@b.example","smartlock_ids":[11]} {}`, 400, "exactly one JSON object"},
		{"unknown field", `{"email":"a@b.example","smartlock_ids":[11],"admin":true}`, 400, `unknown field "admin"`},
		{"wrong type", `{"email":"a@b.example","smartlock_ids":"11"}`, 400, "smartlock_ids must be a list of lock ids"},
		{"missing everything", `{}`, 400, "email is required; name is required; smartlock_ids must name at least one lock"},
		{"bad email", `{"email":"Guest <g@example.com>","smartlock_ids":[11]}`, 400, `email "Guest <g@example.com>" is not an email address`},
		{"email without domain dot", `{"email":"g@localhost","smartlock_ids":[11]}`, 400, "is not an email address"},
		{"language", `{"email":"g@example.com","smartlock_ids":[11],"language":"pt"}`, 400, `language "pt" is not one of en, de`},
		{"lock id", `{"email":"g@example.com","smartlock_ids":[0]}`, 400, "smartlock_ids: 0 is not a lock id"},
		{"lock twice", `{"email":"g@example.com","smartlock_ids":[11,11]}`, 400, "11 is listed twice"},
		{"delivery", `{"email":"g@example.com","smartlock_ids":[11],"delivery":"post"}`, 400, `delivery "post" must be "nuki" or "custom"`},
		{"from", `{"email":"g@example.com","smartlock_ids":[11],"allowed_from":"tomorrow"}`, 400, `allowed_from "tomorrow" must be an RFC 3339 time`},
		{"until before from", `{"email":"g@example.com","smartlock_ids":[11],"allowed_from":"2026-05-05T08:00:00Z","allowed_until":"2026-05-04T08:00:00Z"}`, 400, "allowed_until must be after allowed_from"},
		{"weekday name", `{"email":"g@example.com","smartlock_ids":[11],"allowed_weekdays":["funday"]}`, 400, `"funday" is not one of mon, tue`},
		{"weekday mask", `{"email":"g@example.com","smartlock_ids":[11],"allowed_weekdays":128}`, 400, "bitmask from 0 to 127"},
		{"weekday type", `{"email":"g@example.com","smartlock_ids":[11],"allowed_weekdays":"mon"}`, 400, `allowed_weekdays must be a list such as ["mon","tue"]`},
		{"clock", `{"email":"g@example.com","smartlock_ids":[11],"allowed_from_time":"8:30"}`, 400, `allowed_from_time "8:30" must be a time of day as HH:MM`},
		{"clock order", `{"email":"g@example.com","smartlock_ids":[11],"allowed_from_time":"18:00","allowed_until_time":"08:00"}`, 400, "later in the day"},
		{"unknown lock (service)", `{"email":"g@example.com","name":"G","smartlock_ids":[99]}`, 400, "no lock 99"},
		{"too large", `{"email":"g@example.com","name":"` + strings.Repeat("x", 70<<10) + `","smartlock_ids":[11]}`, 413, "at most 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(t, s.Handler(), "POST", "/api/v1/invitations", tt.body), tt.status, tt.detail)
		})
	}
	t.Run("form encoded", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/api/v1/invitations", strings.NewReader(`{"email":"g@example.com","smartlock_ids":[11]}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		wantProblem(t, rec, 415, "application/json")
	})
}

func TestActions(t *testing.T) {
	s, f := newTestServer(t, nil)
	seed(f)
	f.codes["11-1"] = "987654321"
	h := s.Handler()

	rec := do(t, h, "POST", "/api/v1/invitations/11-1/resend", "")
	if rec.Code != 200 || decode[bridge.Invitation](t, rec).ResendCount != 1 {
		t.Fatalf("resend: %d %s", rec.Code, rec.Body)
	}
	if f.lastResend != (bridge.ResendOptions{Actor: "web"}) {
		t.Errorf("resend options %+v", f.lastResend)
	}
	rec = do(t, h, "POST", "/api/v1/invitations/11-3/resend", `{"delivery":"custom"}`)
	if rec.Code != 200 || f.lastResend.Delivery != bridge.DeliveryCustom {
		t.Fatalf("resend with delivery: %d %s, options %+v", rec.Code, rec.Body, f.lastResend)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/11-1/resend", `{"delivery":"pigeon"}`), 400, `delivery must be "nuki" or "custom"`)
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/11-1/resend", `{"channel":"nuki"}`), 400, `unknown field "channel"`)
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/22-2/resend", ""), 409, "the invitation is accepted")
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/22-2/resend", `{"force":"yes"}`), 400, "force must be true or false")
	rec = do(t, h, "POST", "/api/v1/invitations/22-2/resend", `{"force":true}`)
	if rec.Code != 200 || decode[bridge.Invitation](t, rec).Status != bridge.StatusSending ||
		f.lastResend != (bridge.ResendOptions{Force: true, Actor: "web"}) {
		t.Fatalf("forced resend of an accepted invitation: %d %s, options %+v", rec.Code, rec.Body, f.lastResend)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/22-9/resend", ""), 404, "no invitation 22-9")

	rec = do(t, h, "POST", "/api/v1/invitations/22-2/revoke", "")
	if rec.Code != 200 || decode[bridge.Invitation](t, rec).Status != bridge.StatusRevoked {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/x-1/revoke", ""), 400, "is not an invitation id")

	rec = do(t, h, "POST", "/api/v1/invitations/11-1/code", "")
	if rec.Code != 200 {
		t.Fatalf("code: %d %s", rec.Code, rec.Body)
	}
	if c := decode[map[string]any](t, rec); c["code"] != "987654321" || c["invite_id"] != "11-1" {
		t.Errorf("code answer %v", c)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/22-2/code", ""), 404, "no code stored")
	f.fail["RevealCode"] = fmt.Errorf("%w: set EXPOSE_CODES to reveal invite codes", bridge.ErrDisabled)
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/11-1/code", ""), 403, "set EXPOSE_CODES")

	rec = do(t, h, "POST", "/api/v1/sync", "")
	if rec.Code != http.StatusAccepted || f.syncs != 1 || decode[bridge.SyncState](t, rec).Status != bridge.SyncOK {
		t.Fatalf("sync: %d %s after %d sync requests", rec.Code, rec.Body, f.syncs)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/sync/confirm", ""), 409, "no sync is held")
	f.mu.Lock()
	f.state.Status = bridge.SyncHeld
	f.mu.Unlock()
	if rec := do(t, h, "POST", "/api/v1/sync/confirm", ""); rec.Code != http.StatusAccepted || f.confirmed != 1 {
		t.Errorf("confirming a held sync: %d %s, %d confirmations", rec.Code, rec.Body, f.confirmed)
	}
	f.mu.Lock()
	f.state.Status = bridge.SyncOK
	f.mu.Unlock()

	rec = do(t, h, "GET", "/api/v1/locks", "")
	if got := decode[struct{ Locks []bridge.Lock }](t, rec); rec.Code != 200 || len(got.Locks) != 2 || got.Locks[1].Name != "Garden gate" {
		t.Errorf("locks: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, h, "GET", "/api/v1/state", "")
	if st := decode[bridge.SyncState](t, rec); rec.Code != 200 || st.Counts[bridge.StatusRevoked] != 1 || st.LastSync.IsZero() {
		t.Errorf("state: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, do(t, h, "GET", "/api/v1/nothing", ""), 404, "nothing is served at GET /api/v1/nothing")
	if rec := do(t, h, "DELETE", "/api/v1/invitations/11-1", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: status %d, want 405", rec.Code)
	}
}

func TestErrorsBecomeProblems(t *testing.T) {
	const token = "nuki-token-must-stay-hidden"
	tests := []struct {
		name       string
		err        error
		status     int
		typ        string
		detail     string
		retryAfter string
	}{
		{"not found", fmt.Errorf("%w: lock 7", bridge.ErrNotFound), 404, "not-found", "lock 7", ""},
		{"invalid", fmt.Errorf("%w: name is too long", bridge.ErrInvalid), 400, "invalid-request", "name is too long", ""},
		{"conflict", fmt.Errorf("%w: re-sent 2 min ago; wait 8 min", bridge.ErrConflict), 409, "conflict", "wait 8 min", ""},
		{"disabled", fmt.Errorf("%w: SMTP is not configured", bridge.ErrDisabled), 403, "disabled", "SMTP is not configured", ""},
		{"nuki unauthorized", fmt.Errorf("sync: %w", &bridge.NukiError{Kind: bridge.ErrNukiUnauthorized, Op: "GET /smartlock", Status: 401}),
			502, "nuki-unauthorized", "the Nuki API token was refused", ""},
		{"nuki rate limited", &bridge.NukiError{Kind: bridge.ErrNukiRateLimited, Status: 429, RetryAfter: 90 * time.Second},
			503, "nuki-rate-limited", "try again in 1m30s", "90"},
		{"nuki rate limited without hint", &bridge.NukiError{Kind: bridge.ErrNukiRateLimited, Status: 429},
			503, "nuki-rate-limited", "try again in 1m0s", "60"},
		{"nuki unavailable", &bridge.NukiError{Kind: bridge.ErrNukiUnavailable, Op: "GET /smartlock", Err: errors.New("dial tcp: i/o timeout " + token)},
			503, "nuki-unavailable", "Nuki Web is unreachable", ""},
		{"nuki rejected", &bridge.NukiError{Kind: bridge.ErrNukiRejected, Status: 422, Description: "name too long"},
			502, "nuki-rejected", "Nuki Web rejected the request: name too long", ""},
		{"unknown", errors.New("bolt: disk full near " + token), 500, "internal", "the log has the details", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t, nil)
			f.fail["Revoke"] = tt.err
			rec := do(t, s.Handler(), "POST", "/api/v1/invitations/11-1/revoke", "")
			p := wantProblem(t, rec, tt.status, tt.detail)
			if p.Type != "urn:nuki-invites:problem:"+tt.typ {
				t.Errorf("type %q, want …%s", p.Type, tt.typ)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Errorf("the problem shows a secret: %s", rec.Body)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newTestServer(t, func(o *web.Options) { o.APIToken = "secret"; o.TrustedProxy = "" })
	rec := do(t, s.Handler(), "GET", "/healthz", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
}

func TestBackup(t *testing.T) {
	t.Run("not offered", func(t *testing.T) {
		s, _ := newTestServer(t, nil)
		wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/backup", ""), 403, "offers no backups")
	})
	t.Run("download", func(t *testing.T) {
		s, _ := newTestServer(t, func(o *web.Options) {
			o.Backup = func(path string) error { return os.WriteFile(path, []byte("bolt file"), 0o600) }
		})
		rec := do(t, s.Handler(), "GET", "/api/v1/backup", "")
		if rec.Code != 200 || rec.Body.String() != "bolt file" ||
			rec.Header().Get("Content-Disposition") != `attachment; filename="nuki-invites-20260504-120000.db"` {
			t.Errorf("backup: %d %q %q", rec.Code, rec.Header().Get("Content-Disposition"), rec.Body)
		}
	})
	t.Run("failure", func(t *testing.T) {
		s, _ := newTestServer(t, func(o *web.Options) {
			o.Backup = func(path string) error { return errors.New("disk full") }
		})
		p := wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/backup", ""), 500, "the log has the details")
		if strings.Contains(p.Detail, "disk full") {
			t.Error("an unexpected error's text reached the client")
		}
	})
}
