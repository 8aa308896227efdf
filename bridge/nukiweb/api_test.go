package nukiweb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// userJSON is account user number i as Nuki Web lists it.
func userJSON(i int) string {
	return fmt.Sprintf(`{"accountUserId":%d,"accountId":1,"email":"u%d@example.com","name":"U%d","language":"de"}`, i, i, i)
}

// usersJSON lists the users numbered from first (inclusive) to last
// (exclusive).
func usersJSON(first, last int) string {
	var parts []string
	for i := first; i < last; i++ {
		parts = append(parts, userJSON(i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestFetchUserPaging runs Fetch against servers that page GET /account/user
// in different ways. The old rule (offset = page × size until a short page)
// looped thousands of times against the ones that ignore offset, and listed
// users twice against the one whose pages overlap.
func TestFetchUserPaging(t *testing.T) {
	const total = 250
	param := func(r *http.Request, name string) int {
		v, _ := strconv.Atoi(r.URL.Query().Get(name))
		return v
	}
	tests := []struct {
		name     string
		users    func(r *http.Request) string
		want     int // distinct users read
		requests int // GET /account/user requests
		capped   bool
	}{
		{
			name: "honours offset and limit",
			users: func(r *http.Request) string {
				off, lim := param(r, "offset"), param(r, "limit")
				return usersJSON(1+min(off, total), 1+min(off+lim, total))
			},
			want: total, requests: 3,
		},
		{
			name:  "ignores offset and limit: every user each time",
			users: func(r *http.Request) string { return usersJSON(1, 1+total) },
			want:  total, requests: 2,
		},
		{
			name:  "ignores offset: the same first page each time",
			users: func(r *http.Request) string { return usersJSON(1, 1+param(r, "limit")) },
			want:  100, requests: 2,
		},
		{
			name: "pages overlap: each user is listed once",
			users: func(r *http.Request) string {
				off, lim := max(param(r, "offset")-10, 0), param(r, "limit")
				return usersJSON(1+min(off, total), 1+min(off+lim, total))
			},
			want: total, requests: 3,
		},
		{
			name: "new users without end: stopped at the cap",
			users: func(r *http.Request) string {
				off, lim := param(r, "offset"), param(r, "limit")
				return usersJSON(1+off, 1+off+lim)
			},
			requests: 200, capped: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.URL.Path == "/account/user" {
					fmt.Fprint(w, tt.users(r))
					return
				}
				fmt.Fprint(w, `[]`)
			}, nukiweb.Options{})
			snap, err := c.Fetch(context.Background())
			pages := 0
			for _, req := range rc.list() {
				if strings.HasPrefix(req, "GET /account/user") {
					pages++
				}
			}
			if pages != tt.requests {
				t.Errorf("%d user pages asked for, want %d", pages, tt.requests)
			}
			if snap.Calls != 2+pages {
				t.Errorf("Calls = %d, want %d", snap.Calls, 2+pages)
			}
			if tt.capped {
				var ne *bridge.NukiError
				if !errors.As(err, &ne) || ne.Kind != bridge.ErrNukiRejected ||
					!strings.Contains(ne.Description, "kept sending new users") {
					t.Fatalf("got %v, want a rejection that names the endless listing", err)
				}
				if len(snap.Users) != 0 {
					t.Errorf("%d users returned with the error", len(snap.Users))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for _, u := range snap.Users {
				if seen[u.ID] {
					t.Fatalf("user %d listed twice", u.ID)
				}
				seen[u.ID] = true
			}
			if len(snap.Users) != tt.want {
				t.Errorf("%d users, want %d", len(snap.Users), tt.want)
			}
		})
	}
	t.Run("offset advances by the users received", func(t *testing.T) {
		// A server that honours offset but sends more users than the limit:
		// the next page starts after the last user received, not at
		// page × limit (which would ask for users already sent).
		c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			if r.URL.Path != "/account/user" {
				fmt.Fprint(w, `[]`)
				return
			}
			off := param(r, "offset")
			fmt.Fprint(w, usersJSON(1+min(off, total), 1+min(off+150, total)))
		}, nukiweb.Options{})
		snap, err := c.Fetch(context.Background())
		if err != nil || len(snap.Users) != total {
			t.Fatalf("%d users, %v", len(snap.Users), err)
		}
		want := "[GET /smartlock GET /smartlock/auth?types=0%2C13 GET /account/user?limit=100&offset=0 " +
			"GET /account/user?limit=100&offset=150 GET /account/user?limit=100&offset=250]"
		if got := fmt.Sprint(rc.list()); got != want {
			t.Errorf("requests\n got %s\nwant %s", got, want)
		}
	})
}

// TestCreateUserThatExists checks that CreateUser hands back the existing
// user when Nuki refuses to create one for an email it already has, whatever
// status it uses for that (the spec declares only 400).
func TestCreateUserThatExists(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		email    string
		wantID   int64
		reason   error // the error's Reason when no user comes back
		requests []string
	}{
		{name: "400 for an existing email", status: 400, email: "ann@example.com", wantID: 3,
			requests: []string{"PUT /account/user", "GET /account/user?email=ann%40example.com"}},
		{name: "409 for an existing email", status: 409, email: "Ann@Example.com", wantID: 3,
			requests: []string{"PUT /account/user", "GET /account/user?email=Ann%40Example.com"}},
		{name: "400 for an email nobody has", status: 400, email: "not-an-email", reason: bridge.ErrInvalid,
			requests: []string{"PUT /account/user", "GET /account/user?email=not-an-email"}},
		{name: "500 is not a refusal: no lookup", status: 500, email: "ann@example.com",
			requests: []string{"PUT /account/user"}},
		{name: "a refusal quoting a new email does not repeat it", status: 400, email: "bob@example.com",
			reason: bridge.ErrInvalid, requests: []string{"PUT /account/user", "GET /account/user?email=bob%40example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				switch r.Method {
				case http.MethodPut:
					nukiError(w, tt.status, "Invalid E-Mail address or name supplied: "+tt.email+".")
				case http.MethodGet:
					if strings.EqualFold(r.URL.Query().Get("email"), "ann@example.com") {
						fmt.Fprint(w, `[{"accountUserId":3,"email":"ann@example.com","name":"Ann","language":"en"}]`)
						return
					}
					fmt.Fprint(w, `[]`)
				}
			}, nukiweb.Options{MaxRetries: -1})
			u, err := c.CreateUser(context.Background(), bridge.NewUser{Email: tt.email, Name: "Ann"})
			if tt.wantID != 0 {
				if err != nil || u.ID != tt.wantID {
					t.Fatalf("got %+v, %v; want the existing user %d", u, err, tt.wantID)
				}
			} else {
				var ne *bridge.NukiError
				if !errors.As(err, &ne) || ne.Status != tt.status || ne.Op != "PUT /account/user" || ne.Reason != tt.reason {
					t.Fatalf("got %v, want the create's own error", err)
				}
				if strings.Contains(err.Error(), tt.email) && strings.Contains(tt.email, "@") {
					t.Errorf("error names the email: %v", err)
				}
			}
			if got := rc.list(); fmt.Sprint(got) != fmt.Sprint(tt.requests) {
				t.Errorf("requests\n got %v\nwant %v", got, tt.requests)
			}
		})
	}
}

// logServer is a fake GET /smartlock/log over entries numbered 1 … n, entry
// i dated i minutes after base. It answers newest first, honours fromDate,
// limit (at most 50) and, unless ignoreID, id ("older than this entry").
type logServer struct {
	n        int
	base     time.Time
	ignoreID bool
}

func (ls logServer) entry(i int) string {
	return fmt.Sprintf(`{"id":"log%d","smartlockId":17,"deviceType":0,"accountUserId":3,"authId":"a%d","name":"Ann",`+
		`"action":1,"trigger":5,"state":0,"autoUnlock":false,"date":%q,"source":0}`,
		i, i, ls.base.Add(time.Duration(i)*time.Minute).Format("2006-01-02T15:04:05.000Z"))
}

func (ls logServer) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	newest := ls.n
	if id := q.Get("id"); id != "" && !ls.ignoreID {
		n, _ := strconv.Atoi(strings.TrimPrefix(id, "log"))
		newest = n - 1
	}
	var from time.Time
	if v := q.Get("fromDate"); v != "" {
		from, _ = time.Parse(time.RFC3339, v)
	}
	var parts []string
	for i := newest; i >= 1 && len(parts) < limit; i-- {
		if !from.IsZero() && ls.base.Add(time.Duration(i)*time.Minute).Before(from) {
			break
		}
		parts = append(parts, ls.entry(i))
	}
	fmt.Fprint(w, "["+strings.Join(parts, ",")+"]")
}

func TestActivityLog(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	tests := []struct {
		name      string
		server    logServer
		since     time.Time
		first     int // number of the oldest entry returned
		last      int // number of the newest
		truncated bool
		requests  []string // "" for no check; ids asked for in turn
	}{
		{name: "a few new entries: one request", server: logServer{n: 30}, since: at(20), first: 21, last: 30,
			requests: []string{""}},
		{name: "exactly one full page", server: logServer{n: 50}, since: at(0), first: 1, last: 50,
			requests: []string{"", "log1"}},
		{name: "older pages until since", server: logServer{n: 200}, since: at(80), first: 81, last: 200,
			requests: []string{"", "log151", "log101"}},
		{name: "the cap: the newest ten pages", server: logServer{n: 1000}, since: at(0), first: 501, last: 1000,
			truncated: true, requests: []string{"", "log951", "log901", "log851", "log801", "log751", "log701",
				"log651", "log601", "log551"}},
		{name: "a server that ignores id: stops at once", server: logServer{n: 200, ignoreID: true}, since: at(0),
			first: 151, last: 200, truncated: true, requests: []string{"", "log151"}},
		{name: "since zero: the first page only", server: logServer{n: 200}, first: 151, last: 200, truncated: true,
			requests: []string{""}},
		{name: "since zero with a short page", server: logServer{n: 7}, first: 1, last: 7, requests: []string{""}},
		{name: "nothing new", server: logServer{n: 30}, since: at(30), requests: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.server.base = base
			c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.Method != http.MethodGet || r.URL.Path != "/smartlock/log" {
					nukiError(w, 404, "no")
					return
				}
				tt.server.serve(w, r)
			}, nukiweb.Options{})
			entries, truncated, err := c.ActivityLog(context.Background(), tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", truncated, tt.truncated)
			}
			want := 0
			if tt.last > 0 {
				want = tt.last - tt.first + 1
			}
			if len(entries) != want {
				t.Fatalf("%d entries, want %d (%d … %d)", len(entries), want, tt.first, tt.last)
			}
			for k, e := range entries {
				if i := tt.first + k; e.ID != "log"+strconv.Itoa(i) || !e.Date.Equal(at(i)) {
					t.Fatalf("entry %d is %s at %v; want log%d, oldest first", k, e.ID, e.Date, i)
				}
				if !tt.since.IsZero() && !e.Date.After(tt.since) {
					t.Fatalf("entry %s is not after since", e.ID)
				}
			}
			var ids []string
			for _, req := range rc.list() {
				u, err := url.Parse(strings.TrimPrefix(req, "GET "))
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				ids = append(ids, q.Get("id"))
				if q.Get("limit") != "50" {
					t.Errorf("limit %q, want 50", q.Get("limit"))
				}
				if wantFrom := tt.since.Format(time.RFC3339); !tt.since.IsZero() && q.Get("fromDate") != wantFrom ||
					tt.since.IsZero() && q.Has("fromDate") {
					t.Errorf("fromDate %q, want %q", q.Get("fromDate"), wantFrom)
				}
			}
			if fmt.Sprintf("%q", ids) != fmt.Sprintf("%q", tt.requests) {
				t.Errorf("ids asked for %q, want %q", ids, tt.requests)
			}
		})
	}
}

func TestActivityLogEntries(t *testing.T) {
	since := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		// Newest first, one entry twice, one at since exactly and one before it:
		// a server that ignores fromDate.
		fmt.Fprint(w, `[
		 {"id":"k","smartlockId":18,"deviceType":0,"authId":"kp1","name":"Keypad","action":3,"trigger":255,"state":0,
		  "autoUnlock":false,"date":"2026-11-26T12:00:00+01:00","source":1},
		 {"id":"a","smartlockId":17,"deviceType":0,"accountUserId":3,"authId":"a1","name":"Ann","action":1,"trigger":5,
		  "state":0,"autoUnlock":false,"date":"2026-11-26T10:30:00.250Z"},
		 {"id":"a","smartlockId":17,"deviceType":0,"accountUserId":3,"authId":"a1","name":"Ann","action":1,"trigger":5,
		  "state":0,"autoUnlock":false,"date":"2026-11-26T10:30:00.250Z"},
		 {"id":"s","smartlockId":17,"deviceType":0,"name":"","action":2,"trigger":6,"state":0,"autoUnlock":false,
		  "date":"2026-11-26T10:00:00.000Z"},
		 {"id":"o","smartlockId":17,"deviceType":0,"name":"","action":2,"trigger":0,"state":0,"autoUnlock":false,
		  "date":"2026-11-25T10:00:00.000Z"}]`)
	}, nukiweb.Options{})
	entries, truncated, err := c.ActivityLog(context.Background(), since)
	if err != nil || truncated {
		t.Fatalf("truncated %v, %v", truncated, err)
	}
	want := []bridge.LogEntry{
		{ID: "a", SmartlockID: 17, AccountUserID: 3, AuthID: "a1", Name: "Ann", Action: bridge.ActionUnlock,
			Trigger: bridge.TriggerApp, Date: time.Date(2026, 11, 26, 10, 30, 0, 250e6, time.UTC)},
		{ID: "k", SmartlockID: 18, AuthID: "kp1", Name: "Keypad", Action: bridge.ActionUnlatch,
			Trigger: bridge.TriggerKeypad, Source: 1, Date: time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)},
	}
	if fmt.Sprintf("%+v", entries) != fmt.Sprintf("%+v", want) {
		t.Errorf("entries\n got %+v\nwant %+v", entries, want)
	}

	t.Run("a bad date is a rejection", func(t *testing.T) {
		c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fmt.Fprint(w, `[{"id":"x","smartlockId":1,"action":1,"trigger":5,"state":0,"date":"yesterday"}]`)
		}, nukiweb.Options{})
		if _, _, err := c.ActivityLog(context.Background(), since); !errors.Is(err, bridge.ErrNukiRejected) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestOperationID checks that SmartlockAuth's operationId reaches
// bridge.Auth.OperationID in every shape it may take.
func TestOperationID(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"absent", ``, ""},
		{"null", `,"operationId":null`, ""},
		{"empty object", `,"operationId":{}`, ""},
		{"string", `,"operationId":"65a1b2c3d4e5f60718293a4b"`, "65a1b2c3d4e5f60718293a4b"},
		{"ObjectId object", `,"operationId":{"timestamp":1700000000,"machineIdentifier":1193046,` +
			`"processIdentifier":-2,"counter":42,"time":1700000000000,"date":"2023-11-14T22:13:20.000Z","timeSecond":1700000000}`,
			"6553f100123456fffe00002a"},
		{"unexpected shape", `,"operationId":[1, 2]`, "[1,2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				fmt.Fprintf(w, `[{"id":"a1","smartlockId":17,"accountUserId":3,"type":0,"name":"Ann","enabled":true%s}]`, tt.json)
			}, nukiweb.Options{})
			a, err := c.FindAuth(context.Background(), 17, 3)
			if err != nil {
				t.Fatal(err)
			}
			if a.OperationID != tt.want {
				t.Errorf("OperationID %q, want %q", a.OperationID, tt.want)
			}
		})
	}
}
