package web_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// bulkAnswer is the answer of POST /api/v1/invitations/bulk as a client
// reads it.
type bulkAnswer struct {
	Results []struct {
		Row         int              `json:"row"`
		Name        string           `json:"name"`
		Email       string           `json:"email"`
		OK          bool             `json:"ok"`
		Invitations []web.Invitation `json:"invitations"`
		Problem     *problemBody     `json:"problem"`
	} `json:"results"`
	Created int `json:"created"`
	Failed  int `json:"failed"`
}

// bulkBody builds a bulk create body: shared holds the shared fields as
// JSON members (without braces), then the guests as name/email pairs.
func bulkBody(shared string, dryRun bool, guests ...string) string {
	var rows []string
	for i := 0; i+1 < len(guests); i += 2 {
		row, _ := json.Marshal(map[string]string{"name": guests[i], "email": guests[i+1]})
		rows = append(rows, string(row))
	}
	return fmt.Sprintf(`{%s,"dry_run":%t,"guests":[%s]}`, shared, dryRun, strings.Join(rows, ","))
}

// outcome is what a row came to: "ok" or the problem's status and type.
func (a bulkAnswer) outcomes() []string {
	var out []string
	for _, r := range a.Results {
		switch {
		case r.OK && r.Problem == nil:
			out = append(out, "ok")
		case r.Problem != nil:
			out = append(out, fmt.Sprintf("%d %s", r.Problem.Status, strings.TrimPrefix(r.Problem.Type, "urn:nuki-invites:problem:")))
		default:
			out = append(out, "not ok without a problem")
		}
	}
	return out
}

func TestBulkCreate(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	body := bulkBody(`"request_id":"party","smartlock_ids":[11,22],"allowed_weekdays":["sat","sun"]`, false,
		"Rose", "rose@example.com", "Ben", "ben@example.org", "Nobody", "not an address", " Carla ", "carla@example.net")
	rec := do(t, h, "POST", "/api/v1/invitations/bulk", body)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := decode[bulkAnswer](t, rec)
	if want := []string{"ok", "ok", "400 invalid-request", "ok"}; !slices.Equal(got.outcomes(), want) {
		t.Fatalf("rows %v, want %v; body %s", got.outcomes(), want, rec.Body)
	}
	if got.Created != 3 || got.Failed != 1 {
		t.Errorf("created %d, failed %d; want 3 and 1", got.Created, got.Failed)
	}
	for i, r := range got.Results {
		if r.Row != i {
			t.Errorf("result %d says row %d", i, r.Row)
		}
	}
	if r := got.Results[3]; r.Name != "Carla" || r.Email != "carla@example.net" {
		t.Errorf("row 3 is %q <%s>, want the trimmed name and address", r.Name, r.Email)
	}
	if p := got.Results[2].Problem; !strings.Contains(p.Detail, `email "not an address" is not an email address`) || len(got.Results[2].Invitations) != 0 {
		t.Errorf("row 2: %+v with %d invitations, want the create's own words and nothing made", p, len(got.Results[2].Invitations))
	}
	for _, r := range slices.Concat(got.Results[:2], got.Results[3:]) {
		if len(r.Invitations) != 2 {
			t.Fatalf("row %d made %d invitations, want one per lock", r.Row, len(r.Invitations))
		}
		for _, inv := range r.Invitations {
			if inv.Email != r.Email || inv.Access.WeekDays != 2|1 || inv.Status != bridge.StatusSending {
				t.Errorf("row %d: invitation %s for %s, weekdays %d, %s; want the row's guest on weekends, sending",
					r.Row, inv.ID, inv.Email, inv.Access.WeekDays, inv.Status)
			}
		}
	}
	listed := decode[web.InvitationList](t, do(t, h, "GET", "/api/v1/invitations", "")).Invitations
	auths := len(rb.sim.Auths())
	if len(listed) != 6 || auths != 6 {
		t.Fatalf("%d invitations listed, %d authorizations in Nuki Web; want 6 of each", len(listed), auths)
	}
	if inv := decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(got.Results[0].Invitations[0].ID), "")); inv.History[0].Actor != "web" {
		t.Errorf("history %+v, want the web as the creator", inv.History)
	}

	t.Run("the same call again creates nothing twice", func(t *testing.T) {
		rec := do(t, h, "POST", "/api/v1/invitations/bulk", body)
		again := decode[bulkAnswer](t, rec)
		if !slices.Equal(again.outcomes(), got.outcomes()) || len(rb.sim.Auths()) != auths {
			t.Fatalf("rows %v and %d authorizations, want %v and still %d", again.outcomes(), len(rb.sim.Auths()), got.outcomes(), auths)
		}
		for i, r := range again.Results {
			if !slices.Equal(ids(r.Invitations), ids(got.Results[i].Invitations)) {
				t.Errorf("row %d answered %v, first %v", i, ids(r.Invitations), ids(got.Results[i].Invitations))
			}
		}
	})
	t.Run("one row per call", func(t *testing.T) {
		for i, g := range [][2]string{{"Dora", "dora@example.com"}, {"Emil", "emil@example.com"}} {
			rec := do(t, h, "POST", "/api/v1/invitations/bulk",
				bulkBody(fmt.Sprintf(`"request_id":"page-%d","smartlock_ids":[22]`, i), false, g[0], g[1]))
			one := decode[bulkAnswer](t, rec)
			if !slices.Equal(one.outcomes(), []string{"ok"}) || one.Created != 1 || one.Results[0].Invitations[0].Name != g[0] {
				t.Errorf("%s alone: %s", g[0], rec.Body)
			}
		}
	})
}

// TestBulkDryRunForetellsTheRealRun: a dry run answers each row as the real
// run then does, and makes nothing and calls no one meanwhile.
func TestBulkDryRunForetellsTheRealRun(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	rb.guest("Alice", "alice@example.com", frontDoor)
	rb.sync()
	guests := []string{
		"New", "new@example.com",
		"Alice", "ALICE@example.com", // open invitation on lock 11
		"New again", "New@Example.com", // in row 0 already
		"", "nameless@example.com", // the create's own check
		"Garden only", "garden@example.com",
	}
	want := []string{"ok", "409 conflict", "409 conflict", "400 invalid-request", "ok"}

	rb.sim.ResetCalls()
	before := do(t, h, "GET", "/api/v1/invitations", "").Body.String()
	rec := do(t, h, "POST", "/api/v1/invitations/bulk", bulkBody(`"smartlock_ids":[11,22]`, true, guests...))
	dry := decode[bulkAnswer](t, rec)
	if !slices.Equal(dry.outcomes(), want) {
		t.Fatalf("dry run rows %v, want %v; body %s", dry.outcomes(), want, rec.Body)
	}
	if dry.Created != 0 || dry.Failed != 3 {
		t.Errorf("dry run: created %d, failed %d; want 0 and 3", dry.Created, dry.Failed)
	}
	for _, r := range dry.Results {
		if len(r.Invitations) != 0 {
			t.Errorf("dry run row %d lists invitations", r.Row)
		}
	}
	if d := dry.Results[1].Problem.Detail; !strings.Contains(d, "Alice already has an invitation to Front door") {
		t.Errorf("row 1: %q, want the conflict named", d)
	}
	if d := dry.Results[2].Problem.Detail; !strings.Contains(d, `"New@Example.com" is in row 0 already`) {
		t.Errorf("row 2: %q, want the earlier row named", d)
	}
	if calls := rb.sim.Calls(); calls != 0 {
		t.Errorf("the dry run made %d calls to Nuki Web", calls)
	}
	if after := do(t, h, "GET", "/api/v1/invitations", "").Body.String(); after != before {
		t.Errorf("the dry run changed the invitations:\nbefore %s\nafter  %s", before, after)
	}

	real := decode[bulkAnswer](t, do(t, h, "POST", "/api/v1/invitations/bulk", bulkBody(`"smartlock_ids":[11,22]`, false, guests...)))
	if !slices.Equal(real.outcomes(), want) || real.Created != 2 {
		t.Errorf("real run rows %v, %d created; want %v as the dry run said, 2 created", real.outcomes(), real.Created, want)
	}
}

// TestBulkRowsRefusedByNuki: a row Nuki Web refuses for one lock fails with
// the create's problem and lists what it made; the rest go on.
func TestBulkRowsRefusedByNuki(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	rb.sim.InjectFault(nukisim.Fault{Method: "PUT", Path: "/smartlock/22/auth", Status: 422, Times: 1})
	rec := do(t, s.Handler(), "POST", "/api/v1/invitations/bulk",
		bulkBody(`"smartlock_ids":[11,22]`, false, "Rose", "rose@example.com", "Ben", "ben@example.org"))
	got := decode[bulkAnswer](t, rec)
	if want := []string{"502 nuki-rejected", "ok"}; !slices.Equal(got.outcomes(), want) {
		t.Fatalf("rows %v, want %v; body %s", got.outcomes(), want, rec.Body)
	}
	if got.Created != 2 || got.Failed != 1 {
		t.Errorf("created %d, failed %d; want 2 (the refused row made one) and 1", got.Created, got.Failed)
	}
	row := got.Results[0]
	statuses := map[int64]bridge.Status{}
	for _, inv := range row.Invitations {
		statuses[inv.SmartlockID] = inv.Status
	}
	if statuses[11] != bridge.StatusSending || statuses[22] != bridge.StatusFailed ||
		!strings.Contains(row.Problem.Detail, "Nuki Web refused 1 of 2 locks") {
		t.Errorf("refused row: invitations %v, problem %q; want 11 sending, 22 failed and the count", statuses, row.Problem.Detail)
	}
}

func TestBulkRefusesBadRequests(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	many := func(n int) string {
		var g []string
		for i := range n {
			g = append(g, fmt.Sprintf("Guest %d %s", i, strings.Repeat("x", 80)), fmt.Sprintf("guest%d@example.com", i))
		}
		return bulkBody(`"smartlock_ids":[11]`, true, g...)
	}
	long := strings.Repeat("r", 126)
	tests := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"too many guests", many(501), 400, "guests names 501 items; at most 500 in one request"},
		{"no guests", `{"smartlock_ids":[11],"guests":[]}`, 400, "guests must name at least one guest"},
		{"guests missing", `{"smartlock_ids":[11]}`, 400, "guests must be a list of guests"},
		{"guests not a list", `{"smartlock_ids":[11],"guests":{"name":"A"}}`, 400, "guests must be a list of guests"},
		{"guest not an object", `{"smartlock_ids":[11],"guests":["a@example.com"]}`, 400, "guests[0] must be an object"},
		{"guest unknown field", `{"smartlock_ids":[11],"guests":[{"name":"A","email":"a@example.com","phone":"1"}]}`, 400, `guests[0]: unknown field "phone"`},
		{"guest wrong type", `{"smartlock_ids":[11],"guests":[{"name":7,"email":"a@example.com"}]}`, 400, "guests[0]: name must be a string"},
		{"guest field at the top", `{"smartlock_ids":[11],"email":"a@example.com","guests":[{"name":"A","email":"a@example.com"}]}`, 400, `unknown field "email"`},
		{"dry_run", `{"smartlock_ids":[11],"dry_run":"yes","guests":[{"name":"A","email":"a@example.com"}]}`, 400, "dry_run must be true or false"},
		{"shared field", `{"smartlock_ids":[11],"allowed_from":"soon","guests":[{"name":"A","email":"a@example.com"}]}`, 400, `allowed_from "soon" must be an RFC 3339 time`},
		{"request_id without room for the rows", `{"request_id":"` + long + `","smartlock_ids":[11],"guests":[` +
			strings.Repeat(`{"name":"A","email":"a@example.com"},`, 10) + `{"name":"A","email":"a@example.com"}]}`,
			400, "with 11 guests it must be at most 125 characters"},
		{"too large", `{"smartlock_ids":[11],"guests":[{"name":"` + strings.Repeat("x", 1<<20) + `","email":"a@example.com"}]}`, 413, "at most 1024 KiB"},
		{"not JSON", `guests=1`, 400, "not valid JSON"},
	}
	rb.sim.ResetCalls()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(t, h, "POST", "/api/v1/invitations/bulk", tt.body), tt.status, tt.detail)
		})
	}
	if n := len(rb.svc.Invitations(bridge.Filter{})); n != 0 || rb.sim.Calls() != 0 {
		t.Errorf("refused requests made %d invitations and %d calls to Nuki Web", n, rb.sim.Calls())
	}
	t.Run("form encoded", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/api/v1/invitations/bulk", strings.NewReader(many(1)))
		req.Header.Set("Content-Type", "text/plain")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		wantProblem(t, rec, 415, "application/json")
	})
	t.Run("an overlong value fails its row and is not echoed whole", func(t *testing.T) {
		long := strings.Repeat("x", 5000)
		rec := do(t, h, "POST", "/api/v1/invitations/bulk", bulkBody(`"smartlock_ids":[11]`, true, long, long+"@example.com"))
		got := decode[bulkAnswer](t, rec)
		r := got.Results[0]
		if r.OK || !strings.Contains(r.Problem.Detail, "email must be at most 254 characters; name must be at most 100 characters") {
			t.Fatalf("row %+v, want it refused with the limits", r)
		}
		if len(r.Name) != 100 || len(r.Email) != 254 || rec.Body.Len() > 2000 {
			t.Errorf("the answer echoes %d characters of the name and %d of the address (%d bytes in all)", len(r.Name), len(r.Email), rec.Body.Len())
		}
	})
	t.Run("500 rows fit", func(t *testing.T) {
		body := many(500)
		if len(body) <= 64<<10 {
			t.Fatalf("the body is %d bytes; the test wants one above the single create's limit", len(body))
		}
		rec := do(t, h, "POST", "/api/v1/invitations/bulk", body)
		if got := decode[bulkAnswer](t, rec); rec.Code != 200 || len(got.Results) != 500 || got.Failed != 0 {
			t.Errorf("500 rows: %d, %d results, %d failed", rec.Code, len(got.Results), got.Failed)
		}
	})
	t.Run("the longest request id that fits", func(t *testing.T) {
		body := `{"request_id":"` + strings.Repeat("r", 126) + `","smartlock_ids":[11],"dry_run":true,"guests":[` +
			strings.Repeat(`{"name":"A","email":"a@example.com"},`, 9) + `{"name":"A","email":"a@example.com"}]}`
		if rec := do(t, h, "POST", "/api/v1/invitations/bulk", body); rec.Code != 200 {
			t.Errorf("126 characters with 10 rows (up to -9, 128 in all): %d %s", rec.Code, rec.Body)
		}
	})
}
