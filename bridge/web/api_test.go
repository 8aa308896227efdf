package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

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

func ids(invs []web.Invitation) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, string(inv.ID))
	}
	return out
}

// guests are the invitations seedGuests adopts.
type guests struct{ alice, bob, carol bridge.InviteID }

// seedGuests makes three guests in Nuki Web and syncs: Alice pending on
// the front door, Bob accepted on the garden gate (he has used it) and Carol
// expired on the front door (sent 50 h ago, never used).
func seedGuests(rb *realBridge) guests {
	rb.t.Helper()
	carol, err := rb.sim.AddUser(bridge.User{Name: "Carol", Email: "carol@example.com", Language: "en"})
	if err != nil {
		rb.t.Fatal(err)
	}
	if _, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: frontDoor.ID, AccountUserID: carol.ID, Type: bridge.AuthTypeApp,
		Name: "Carol", Enabled: true, CreationDate: fakeNow.Add(-50 * time.Hour)}); err != nil {
		rb.t.Fatal(err)
	}
	alice := rb.guest("Alice", "alice@example.com", frontDoor)
	bob := rb.guest("Bob", "bob@example.com", gardenGate)
	if _, err := rb.sim.Use(gardenGate.ID, bob.ID, bridge.ActionUnlock); err != nil {
		rb.t.Fatal(err)
	}
	rb.sync()
	return guests{alice: bridge.MakeInviteID(frontDoor.ID, alice.ID), bob: bridge.MakeInviteID(gardenGate.ID, bob.ID),
		carol: bridge.MakeInviteID(frontDoor.ID, carol.ID)}
}

// names returns the guests' names of invs, in order.
func names(invs []web.Invitation) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, inv.Name)
	}
	return out
}

func TestListInvitations(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	seedGuests(rb)
	tests := []struct {
		query string
		want  []string // newest sending first
	}{
		{"", []string{"Alice", "Bob", "Carol"}},
		{"?status=pending", []string{"Alice"}},
		{"?status=pending,expired", []string{"Alice", "Carol"}},
		{"?status=pending&status=accepted", []string{"Alice", "Bob"}},
		{"?status=pending,,%20expired", []string{"Alice", "Carol"}},
		{"?lock=22", []string{"Bob"}},
		{"?lock=11&status=expired", []string{"Carol"}},
		{"?q=CAROL", []string{"Carol"}},
		{"?q=garden", []string{"Bob"}},
		{"?q=%20bob@%20", []string{"Bob"}},
		{"?q=nobody", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := do(t, s.Handler(), "GET", "/api/v1/invitations"+tt.query, "")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decode[web.InvitationList](t, rec)
			if !reflect.DeepEqual(names(got.Invitations), tt.want) {
				t.Errorf("guests %v, want %v", names(got.Invitations), tt.want)
			}
			for _, inv := range got.Invitations {
				if inv.History != nil {
					t.Errorf("the list carries %s's history", inv.Name)
				}
			}
		})
	}
	for _, bad := range []struct{ query, detail string }{
		{"?status=open", `status "open" is not one of sending, pending, expiring_soon`},
		{"?lock=front", `lock "front" is not a lock id`},
		{"?lock=-3", `lock "-3" is not a lock id`},
		{"?q=" + strings.Repeat("q", 201), "q must be at most 200 characters"},
	} {
		t.Run(bad.query, func(t *testing.T) {
			wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations"+bad.query, ""), 400, bad.detail)
		})
	}
}

func TestGetInvitation(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	g := seedGuests(rb)
	rec := do(t, s.Handler(), "GET", "/api/v1/invitations/"+string(g.alice), "")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	inv := decode[web.Invitation](t, rec)
	if inv.Name != "Alice" || inv.LockName != "Front door" || len(inv.History) == 0 ||
		inv.History[0].Event != bridge.EventAdopted || inv.History[0].Actor != "sync" {
		t.Errorf("got %+v, want Alice on the front door with her history from the adoption", inv)
	}
	wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations/11-9", ""), 404, "no invitation 11-9")
	wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/invitations/alice", ""), 400, `"alice" is not an invitation id`)
}

const goodCreate = `{"request_id":"r1","email":"guest@example.com","name":"Guest","language":"de",
 "smartlock_ids":[11,22],"delivery":"custom","remote_allowed":true,
 "allowed_from":"2026-05-05T08:00:00+02:00","allowed_until":"2026-05-09T20:00:00+02:00",
 "allowed_weekdays":["mon","fri"],"allowed_from_time":"08:30","allowed_until_time":"18:00"}`

func TestCreate(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{AdvancedAPI: true}, nil)
	h := s.Handler()
	rec := do(t, h, "POST", "/api/v1/invitations", goodCreate)
	if rec.Code != 201 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	created := decode[web.InvitationList](t, rec).Invitations
	if len(created) != 2 {
		t.Fatalf("created %d invitations, want 2", len(created))
	}
	cet := time.FixedZone("", 2*3600)
	access := web.Access{
		From: time.Date(2026, 5, 5, 8, 0, 0, 0, cet), Until: time.Date(2026, 5, 9, 20, 0, 0, 0, cet),
		WeekDays: 64 | 4, FromTime: 8*60 + 30, UntilTime: 18 * 60,
	}
	for i, inv := range created {
		if want := []int64{11, 22}[i]; inv.SmartlockID != want || inv.Name != "Guest" || inv.Email != "guest@example.com" ||
			inv.Language != "de" || inv.Delivery != bridge.DeliveryCustom || !inv.RemoteAllowed || inv.Status != bridge.StatusSending {
			t.Errorf("invitation %d: %+v, want the request's guest, language, delivery and remote access on lock %d, sending", i, inv, want)
		}
		if a := inv.Access; !a.From.Equal(access.From) || !a.Until.Equal(access.Until) || a.WeekDays != access.WeekDays ||
			a.FromTime != access.FromTime || a.UntilTime != access.UntilTime {
			t.Errorf("invitation %d: access %+v, want %+v", i, inv.Access, access)
		}
		if got := decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(inv.ID), "")); got.History[0].Event != bridge.EventCreated || got.History[0].Actor != "web" {
			t.Errorf("invitation %d: history %+v, want created by the web", i, got.History)
		}
	}
	auths := len(rb.sim.Auths())
	again := do(t, h, "POST", "/api/v1/invitations", goodCreate)
	if got := decode[web.InvitationList](t, again).Invitations; again.Code != 201 ||
		!reflect.DeepEqual(ids(got), ids(created)) || len(rb.sim.Auths()) != auths {
		t.Errorf("the same request_id again: %d %v, %d authorizations; want the first invitations and nothing new", again.Code, ids(got), len(rb.sim.Auths()))
	}

	t.Run("defaults and bitmask", func(t *testing.T) {
		rec := do(t, h, "POST", "/api/v1/invitations", `{"email":"x@example.org","name":"X","smartlock_ids":[11],"allowed_weekdays":127}`)
		if rec.Code != 201 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		inv := decode[web.InvitationList](t, rec).Invitations[0]
		if inv.Delivery != bridge.DeliveryNuki || inv.Language != "en" || inv.Access.WeekDays != 127 || inv.RemoteAllowed {
			t.Errorf("invitation %+v, want nuki delivery, English, every weekday, no remote access", inv)
		}
	})
	t.Run("an open invitation of the guest", func(t *testing.T) {
		wantProblem(t, do(t, h, "POST", "/api/v1/invitations", `{"email":"x@example.org","name":"X","smartlock_ids":[11]}`),
			409, "X already has an invitation to Front door")
	})
	t.Run("custom delivery needs the Advanced API", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, nil)
		wantProblem(t, do(t, s.Handler(), "POST", "/api/v1/invitations", `{"email":"x@example.org","name":"X","smartlock_ids":[11],"delivery":"custom"}`),
			403, "custom delivery needs the Nuki Advanced API")
	})
}

func TestCreateRefusesBadBodies(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	rb.sim.ResetCalls()
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
		{"unknown lock", `{"email":"g@example.com","name":"G","smartlock_ids":[99]}`, 400, "lock 99 is not in the Nuki Web account"},
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
	if n := len(rb.svc.Invitations(bridge.Filter{})); n != 0 || rb.sim.Calls() != 0 {
		t.Errorf("refused creates made %d invitations and %d calls to Nuki Web", n, rb.sim.Calls())
	}
}

// lastEntry is the latest entry of an invitation's history.
func lastEntry(t *testing.T, h http.Handler, id bridge.InviteID) web.HistoryEntry {
	t.Helper()
	inv := decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(id), ""))
	return inv.History[len(inv.History)-1]
}

func TestActions(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{AdvancedAPI: true, ExposeCodes: true}, nil)
	g := seedGuests(rb)
	h := s.Handler()

	rec := do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/resend", "")
	if inv := decode[web.Invitation](t, rec); rec.Code != 200 || inv.ResendCount != 1 || inv.Status != bridge.StatusSending || inv.Delivery != bridge.DeliveryNuki {
		t.Fatalf("resend: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, h, "POST", "/api/v1/invitations/"+string(g.carol)+"/resend", `{"delivery":"custom"}`)
	if rec.Code != 200 || decode[web.Invitation](t, rec).Delivery != bridge.DeliveryCustom {
		t.Fatalf("resend with delivery: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/resend", ""), 409, "a new re-send is possible in")
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/resend", `{"delivery":"pigeon"}`), 400, `delivery must be "nuki" or "custom"`)
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/resend", `{"channel":"nuki"}`), 400, `unknown field "channel"`)
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.bob)+"/resend", ""), 409, "Bob accepted this invitation")
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.bob)+"/resend", `{"force":"yes"}`), 400, "force must be true or false")
	rec = do(t, h, "POST", "/api/v1/invitations/"+string(g.bob)+"/resend", `{"force":true}`)
	if rec.Code != 200 || decode[web.Invitation](t, rec).Status != bridge.StatusSending {
		t.Fatalf("forced resend of an accepted invitation: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/22-9/resend", ""), 404, "no invitation 22-9")

	rec = do(t, h, "POST", "/api/v1/invitations/"+string(g.bob)+"/revoke", "")
	if rec.Code != 200 || decode[web.Invitation](t, rec).Status != bridge.StatusRevoked {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if e := lastEntry(t, h, g.bob); e.Event != bridge.EventRevoked || e.Actor != "web" {
		t.Errorf("history ends with %+v, want revoked by the web", e)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.bob)+"/revoke", ""), 409, "was revoked on")
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/x-1/revoke", ""), 400, "is not an invitation id")

	// Carol's custom re-send: Nuki's webhook brings the code.
	for deadline := time.Now().Add(10 * time.Second); !decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(g.carol), "")).HasCode; {
		if time.Now().After(deadline) {
			t.Fatal("no code arrived for Carol's custom re-send")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec = do(t, h, "POST", "/api/v1/invitations/"+string(g.carol)+"/code", "")
	if rec.Code != 200 {
		t.Fatalf("code: %d %s", rec.Code, rec.Body)
	}
	if c := decode[map[string]any](t, rec); !regexp.MustCompile(`^[0-9]{9}$`).MatchString(c["code"].(string)) || c["invite_id"] != string(g.carol) {
		t.Errorf("code answer %v, want Carol's 9-digit code", c)
	}
	if e := lastEntry(t, h, g.carol); e.Event != bridge.EventCodeRevealed || e.Actor != "web" {
		t.Errorf("history ends with %+v, want the reveal by the web", e)
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/code", ""), 404, "Nuki emails the code itself")

	rec = do(t, h, "GET", "/api/v1/locks", "")
	if got := decode[web.LockList](t, rec); rec.Code != 200 || !reflect.DeepEqual(got.Locks, []web.Lock{
		{SmartlockID: frontDoor.ID, Name: frontDoor.Name, Type: frontDoor.Type},
		{SmartlockID: gardenGate.ID, Name: gardenGate.Name, Type: gardenGate.Type}}) {
		t.Errorf("locks: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, h, "GET", "/api/v1/state", "")
	if st := decode[web.SyncState](t, rec); rec.Code != 200 || st.Counts[bridge.StatusRevoked] != 1 || st.LastSync.IsZero() || st.SyncStatus != bridge.SyncOK {
		t.Errorf("state: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, do(t, h, "GET", "/api/v1/nothing", ""), 404, "nothing is served at GET /api/v1/nothing")
	rec = do(t, h, "DELETE", "/api/v1/invitations/11-1", "")
	wantProblem(t, rec, http.StatusMethodNotAllowed, "DELETE is not allowed on /api/v1/invitations/11-1")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow %q", allow)
	}
}

// TestConfirmHeldSync: a sync that would revoke most invitations at once is
// held until confirmed, and POST /api/v1/sync/confirm confirms it.
func TestConfirmHeldSync(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	wantProblem(t, do(t, h, "POST", "/api/v1/sync/confirm", ""), 409, "no sync is held")
	for _, name := range []string{"Ann", "Ben", "Cid", "Dan", "Eve"} {
		rb.guest(name, strings.ToLower(name)+"@example.com", frontDoor)
	}
	rb.sync()
	for _, a := range rb.sim.Auths() {
		if err := rb.client.DeleteAuth(context.Background(), a.SmartlockID, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	rb.sync()
	rb.sync()
	if st := decode[web.SyncState](t, do(t, h, "GET", "/api/v1/state", "")); st.SyncStatus != bridge.SyncHeld {
		t.Fatalf("state %+v, want the sync held", st)
	}
	if rec := do(t, h, "POST", "/api/v1/sync/confirm", ""); rec.Code != http.StatusAccepted {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body)
	}
	rb.sync()
	if open := rb.svc.Invitations(bridge.Filter{Statuses: bridge.OpenStatuses}); len(open) != 0 {
		t.Errorf("after the confirmed sync %d invitations are open, want every one revoked", len(open))
	}
}

func TestErrorsBecomeProblems(t *testing.T) {
	tests := []struct {
		name       string
		fault      *nukisim.Fault
		breakStore bool
		status     int
		typ        string
		detail     string
		retryAfter string
	}{
		{name: "nuki unauthorized", fault: &nukisim.Fault{Method: "DELETE", Status: 401},
			status: 502, typ: "nuki-unauthorized", detail: "the Nuki API token was refused"},
		{name: "nuki rate limited", fault: &nukisim.Fault{Method: "DELETE", Status: 429, RetryAfter: "90"},
			status: 503, typ: "nuki-rate-limited", detail: "try again in 1m30s", retryAfter: "90"},
		{name: "nuki rate limited without hint", fault: &nukisim.Fault{Method: "DELETE", Status: 429},
			status: 503, typ: "nuki-rate-limited", detail: "try again in 1m0s", retryAfter: "60"},
		{name: "nuki unavailable", fault: &nukisim.Fault{Method: "DELETE", Status: 503},
			status: 503, typ: "nuki-unavailable", detail: "Nuki Web is unreachable"},
		{name: "nuki rejected", fault: &nukisim.Fault{Method: "DELETE", Status: 422},
			status: 502, typ: "nuki-rejected", detail: "Nuki Web rejected the request: Injected fault"},
		{name: "store broken", breakStore: true, status: 500, typ: "internal", detail: "the log has the details"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rb := newRealServer(t, bridge.Options{}, nil)
			g := seedGuests(rb)
			if tt.fault != nil {
				rb.sim.InjectFault(*tt.fault)
			}
			if tt.breakStore {
				rb.db.Close()
			}
			rec := do(t, s.Handler(), "POST", "/api/v1/invitations/"+string(g.alice)+"/revoke", "")
			p := wantProblem(t, rec, tt.status, tt.detail)
			if p.Type != "urn:nuki-invites:problem:"+tt.typ {
				t.Errorf("type %q, want …%s", p.Type, tt.typ)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if body := rec.Body.String(); strings.Contains(body, "sim-token") || strings.Contains(body, "/smartlock") || strings.Contains(body, "bolt") {
				t.Errorf("the problem shows more than it should: %s", body)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.APIToken = "secret" })
	rec := do(t, s.Handler(), "GET", "/healthz", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
}

func TestBackup(t *testing.T) {
	t.Run("not offered", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, nil)
		wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/backup", ""), 403, "offers no backups")
	})
	t.Run("download", func(t *testing.T) {
		rb := newRealBridge(t, bridge.Options{})
		seedGuests(rb)
		s := rb.server(func(o *web.Options) { o.Backup = rb.db.BackupFile })
		rec := do(t, s.Handler(), "GET", "/api/v1/backup", "")
		if rec.Code != 200 || rec.Header().Get("Content-Disposition") != `attachment; filename="nuki-invites-20260504-120000.db"` {
			t.Fatalf("backup: %d %q", rec.Code, rec.Header().Get("Content-Disposition"))
		}
		path := filepath.Join(t.TempDir(), "restored.db")
		if err := os.WriteFile(path, rec.Body.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		restored, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatalf("the download is no database: %v", err)
		}
		defer restored.Close()
		st, err := restored.Load(context.Background())
		if err != nil || len(st.Invitations) != 3 {
			t.Errorf("the backup holds %d invitations (%v), want 3", len(st.Invitations), err)
		}
	})
	t.Run("failure", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) {
			o.Backup = func(path string) error { return errors.New("disk full") }
		})
		p := wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/backup", ""), 500, "the log has the details")
		if strings.Contains(p.Detail, "disk full") {
			t.Error("an unexpected error's text reached the client")
		}
	})
}
