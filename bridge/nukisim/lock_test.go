package nukisim

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

var operationIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// fixture is a simulator on a test clock with one lock and one user.
type fixture struct {
	c    *clock
	sim  *Sim
	call func(method, path, body string) (int, []byte)
	lock bridge.Lock
	user bridge.User
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{c: newClock()}
	opts.Now = f.c.Now
	sim, srv := newServer(t, opts)
	f.sim = sim
	f.call = func(method, path, body string) (int, []byte) {
		t.Helper()
		return call(t, srv, method, path, body)
	}
	f.lock = sim.AddLock(bridge.Lock{Name: "Front", Type: 4})
	var err error
	if f.user, err = sim.AddUser(bridge.User{Email: "ann@example.com", Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) advance(d time.Duration) { advance(f.sim, f.c, d) }

// createBody is a standard app authorization create for the fixture's user.
func (f *fixture) createBody() string {
	return fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true}`, f.user.ID)
}

// mustCreate asks for an app authorization and lets the lock take it.
func (f *fixture) mustCreate(t *testing.T) bridge.Auth {
	t.Helper()
	if status, body := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
		t.Fatalf("create: %d %s", status, body)
	}
	f.advance(2 * time.Second)
	auths := f.sim.AuthsFor(f.user.ID)
	if len(auths) != 1 {
		t.Fatalf("after the lock delay: %+v", auths)
	}
	return auths[0]
}

func (f *fixture) authPath(a bridge.Auth) string {
	return fmt.Sprintf("/smartlock/%d/auth/%s", a.SmartlockID, a.ID)
}

func TestCreatesAreListedOnceTheLockHasThem(t *testing.T) {
	tests := []struct {
		name, method string
		path         func(f *fixture) string
		body         func(f *fixture) string
		want         int
		emails       int
	}{
		{"one lock", "PUT", func(f *fixture) string { return fmt.Sprintf("/smartlock/%d/auth", f.lock.ID) },
			func(f *fixture) string { return f.createBody() }, 204, 1},
		{"several locks", "PUT", func(f *fixture) string { return "/smartlock/auth" },
			func(f *fixture) string {
				return fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d]}`, f.user.ID, f.lock.ID)
			}, 204, 1},
		{"advanced", "PUT", func(f *fixture) string { return "/smartlock/auth/advanced" },
			func(f *fixture) string {
				return fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d]}`, f.user.ID, f.lock.ID)
			}, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			if _, err := f.sim.AddAuth(bridge.Auth{SmartlockID: f.lock.ID, Type: 13, Name: "Keypad", Enabled: true}); err != nil {
				t.Fatal(err) // takes the lock's authId 1
			}
			asked := f.c.Now()
			if status, body := f.call(tt.method, tt.path(f), tt.body(f)); status != tt.want {
				t.Fatalf("create: %d %s", status, body)
			}
			for _, wait := range []time.Duration{0, 2*time.Second - time.Millisecond} {
				f.c.Advance(wait - f.c.Now().Sub(asked))
				_, body := f.call("GET", "/smartlock/auth?types=0", "")
				if string(body) != "[]\n" || len(f.sim.Emails()) != 0 {
					t.Fatalf("%v after the request: listed %s, %d emails", wait, body, len(f.sim.Emails()))
				}
			}
			f.c.Advance(time.Millisecond)
			auths := f.sim.AuthsFor(f.user.ID)
			if len(auths) != 1 {
				t.Fatalf("once the lock took it: %+v", auths)
			}
			a := auths[0]
			if a.AuthID != 2 || !a.CreationDate.Equal(asked) || !a.UpdateDate.Equal(asked.Add(2*time.Second)) ||
				a.OperationID != "" || a.LockCount != 0 || !a.LastActiveDate.IsZero() || a.AppID != 0 {
				t.Fatalf("listed %+v", a)
			}
			if n := len(f.sim.Emails()); n != tt.emails {
				t.Fatalf("%d emails, want %d", n, tt.emails)
			}
		})
	}
}

func TestOneWriteAtATime(t *testing.T) {
	t.Run("a pending create refuses a second one", func(t *testing.T) {
		f := newFixture(t, Options{})
		path := fmt.Sprintf("/smartlock/%d/auth", f.lock.ID)
		if status, _ := f.call("PUT", path, f.createBody()); status != 204 {
			t.Fatal(status)
		}
		for _, req := range []struct{ path, body string }{
			{path, f.createBody()},
			{"/smartlock/auth", fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d]}`, f.user.ID, f.lock.ID)},
			{"/smartlock/auth/advanced", fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d]}`, f.user.ID, f.lock.ID)},
		} {
			if status, body := f.call("PUT", req.path, req.body); status != http.StatusConflict {
				t.Errorf("PUT %s: %d %s", req.path, status, body)
			}
		}
		if _, err := f.sim.AddAuth(bridge.Auth{SmartlockID: f.lock.ID, AccountUserID: f.user.ID, Name: "Ann"}); !errors.Is(err, bridge.ErrConflict) {
			t.Errorf("AddAuth during a create: %v", err)
		}
	})
	t.Run("a pending delete stays listed and refuses other writes", func(t *testing.T) {
		f := newFixture(t, Options{})
		a := f.mustCreate(t)
		f.advance(time.Minute)
		if status, body := f.call("DELETE", f.authPath(a), ""); status != 204 {
			t.Fatalf("delete: %d %s", status, body)
		}
		status, body := f.call("GET", f.authPath(a), "")
		got := decodeJSON[wireAuth](t, body)
		if status != 200 || !operationIDPattern.MatchString(got.OperationID) {
			t.Fatalf("while deleting: %d %s", status, body)
		}
		for _, req := range []struct {
			method, path, body string
			want               int
		}{
			{"DELETE", f.authPath(a), "", http.StatusLocked},
			{"POST", f.authPath(a), `{"name":"Ann B"}`, http.StatusLocked},
			{"DELETE", "/smartlock/auth", `["` + a.ID + `"]`, http.StatusLocked},
			{"DELETE", fmt.Sprintf("/account/user/%d", f.user.ID), "", http.StatusLocked},
			{"PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody(), http.StatusConflict},
		} {
			status, body := f.call(req.method, req.path, req.body)
			if status != req.want || (status == http.StatusLocked && !strings.Contains(string(body), `"reasonPhrase":"Locked"`)) {
				t.Errorf("%s %s: %d %s, want %d", req.method, req.path, status, body, req.want)
			}
		}
		f.advance(2 * time.Second)
		if auths := f.sim.AuthsFor(f.user.ID); len(auths) != 0 {
			t.Fatalf("after the lock delay: %+v", auths)
		}
		if status, body := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
			t.Fatalf("create again once deleted: %d %s", status, body)
		}
		f.advance(2 * time.Second)
		if auths := f.sim.AuthsFor(f.user.ID); len(auths) != 1 || auths[0].AuthID != 2 || auths[0].ID == a.ID {
			t.Fatalf("created again: %+v, the lock's authId must move on", auths)
		}
	})
	t.Run("a modify shows the old values until the lock has it", func(t *testing.T) {
		f := newFixture(t, Options{})
		a := f.mustCreate(t)
		f.advance(time.Hour)
		asked := f.c.Now()
		if status, body := f.call("POST", f.authPath(a), `{"name":"Ann B","enabled":false,"allowedWeekDays":96}`); status != 204 {
			t.Fatalf("modify: %d %s", status, body)
		}
		got := f.sim.AuthsFor(f.user.ID)[0]
		if got.Name != "Ann" || !got.Enabled || !operationIDPattern.MatchString(got.OperationID) || !got.UpdateDate.Equal(a.UpdateDate) {
			t.Fatalf("while modifying: %+v", got)
		}
		if status, _ := f.call("POST", f.authPath(a), `{"name":"Ann C"}`); status != http.StatusLocked {
			t.Fatalf("second modify: %d", status)
		}
		f.advance(2 * time.Second)
		got = f.sim.AuthsFor(f.user.ID)[0]
		if got.Name != "Ann B" || got.Enabled || got.Access.WeekDays != 96 || got.OperationID != "" ||
			!got.UpdateDate.Equal(asked.Add(2*time.Second)) || got.AuthID != a.AuthID {
			t.Fatalf("modified: %+v", got)
		}
	})
	t.Run("deleting a user deletes their authorizations through the locks", func(t *testing.T) {
		f := newFixture(t, Options{})
		a := f.mustCreate(t)
		if status, body := f.call("DELETE", fmt.Sprintf("/account/user/%d", f.user.ID), ""); status != 204 {
			t.Fatalf("delete user: %d %s", status, body)
		}
		if len(f.sim.Users()) != 0 {
			t.Fatal("user still listed")
		}
		if got := f.sim.Auths(); len(got) != 1 || got[0].ID != a.ID || got[0].OperationID == "" {
			t.Fatalf("right after: %+v", got)
		}
		f.advance(2 * time.Second)
		if got := f.sim.Auths(); len(got) != 0 {
			t.Fatalf("after the lock delay: %+v", got)
		}
	})
}

func TestOfflineLockHoldsWrites(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		f := newFixture(t, Options{})
		if err := f.sim.SetOffline(f.lock.ID, true); err != nil {
			t.Fatal(err)
		}
		if status, body := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
			t.Fatalf("create on an offline lock: %d %s", status, body)
		}
		f.advance(7 * 24 * time.Hour)
		if n, m := len(f.sim.Auths()), len(f.sim.Emails()); n != 0 || m != 0 {
			t.Fatalf("a week offline: %d listed, %d emails", n, m)
		}
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != http.StatusConflict {
			t.Fatalf("second create while the first waits: %d", status)
		}
		if err := f.sim.SetOffline(f.lock.ID, false); err != nil {
			t.Fatal(err)
		}
		f.advance(2*time.Second - time.Millisecond)
		if n := len(f.sim.Auths()); n != 0 {
			t.Fatal("carried out before the lock delay since it came back")
		}
		f.advance(time.Millisecond)
		if n, m := len(f.sim.Auths()), len(f.sim.Emails()); n != 1 || m != 1 {
			t.Fatalf("back online: %d listed, %d emails", n, m)
		}
	})
	t.Run("a lock that goes offline before it is due", func(t *testing.T) {
		f := newFixture(t, Options{})
		a := f.mustCreate(t)
		if status, _ := f.call("DELETE", f.authPath(a), ""); status != 204 {
			t.Fatal(status)
		}
		f.advance(time.Second)
		if err := f.sim.SetOffline(f.lock.ID, true); err != nil {
			t.Fatal(err)
		}
		f.advance(time.Hour)
		if got := f.sim.Auths(); len(got) != 1 || got[0].OperationID == "" {
			t.Fatalf("offline: %+v", got)
		}
		if err := f.sim.SetOffline(f.lock.ID, false); err != nil {
			t.Fatal(err)
		}
		f.advance(2 * time.Second)
		if got := f.sim.Auths(); len(got) != 0 {
			t.Fatalf("back online: %+v", got)
		}
	})
	t.Run("an advanced create fails with ff", func(t *testing.T) {
		f := newFixture(t, Options{})
		if err := f.sim.SetOffline(f.lock.ID, true); err != nil {
			t.Fatal(err)
		}
		if status, body := f.call("PUT", "/smartlock/auth/advanced", fmt.Sprintf(
			`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"smartlockIds":[%d]}`, f.user.ID, f.lock.ID)); status != 200 {
			t.Fatalf("advanced: %d %s", status, body)
		}
		f.advance(2 * time.Second)
		f.sim.Close()
		d := f.sim.Webhooks()
		if len(d) != 1 || d[0].Kind != "AuthCreation" || d[0].Error == "" {
			t.Fatalf("deliveries %+v, want the outcome recorded though no URL is set", d)
		}
		if err := f.sim.SetOffline(f.lock.ID, false); err != nil {
			t.Fatal(err)
		}
		f.advance(time.Hour)
		if n := len(f.sim.Auths()); n != 0 {
			t.Fatalf("the failed create was carried out later: %d", n)
		}
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
			t.Fatalf("create after the failure: %d", status)
		}
	})
}

func TestInstantCarriesOutWritesAtOnce(t *testing.T) {
	f := newFixture(t, Options{Instant: true})
	if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
		t.Fatal(status)
	}
	auths := f.sim.AuthsFor(f.user.ID)
	if len(auths) != 1 || auths[0].AuthID != 1 || len(f.sim.Emails()) != 1 {
		t.Fatalf("right after the create: %+v, %d emails", auths, len(f.sim.Emails()))
	}
	if _, err := f.sim.Use(f.lock.ID, f.user.ID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	if got := f.sim.AuthsFor(f.user.ID)[0]; got.LockCount != 1 || !got.LastActiveDate.Equal(f.c.Now()) {
		t.Fatalf("right after a use: %+v", got)
	}
	if status, _ := f.call("DELETE", f.authPath(auths[0]), ""); status != 204 {
		t.Fatal(status)
	}
	if n := len(f.sim.Auths()); n != 0 {
		t.Fatalf("right after the delete: %d listed", n)
	}
	t.Run("an offline lock still waits", func(t *testing.T) {
		if err := f.sim.SetOffline(f.lock.ID, true); err != nil {
			t.Fatal(err)
		}
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
			t.Fatal(status)
		}
		if n := len(f.sim.Auths()); n != 0 {
			t.Fatal("an offline lock took a write")
		}
		if err := f.sim.SetOffline(f.lock.ID, false); err != nil {
			t.Fatal(err)
		}
		if n := len(f.sim.Auths()); n != 1 {
			t.Fatal("not carried out once back online")
		}
	})
}

func TestLockNotTheAccountsIsForbidden(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.mustCreate(t)
	other := fmt.Sprintf("/smartlock/%d", f.lock.ID+1)
	tests := []struct{ method, path, body string }{
		{"GET", other + "/auth", ""},
		{"PUT", other + "/auth", f.createBody()},
		{"GET", other + "/auth/" + a.ID, ""},
		{"POST", other + "/auth/" + a.ID, `{"name":"X"}`},
		{"DELETE", other + "/auth/" + a.ID, ""},
		{"GET", other + "/log", ""},
		{"POST", other + "/sync", ""},
		{"GET", "/smartlock/x/auth", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, body := f.call(tt.method, tt.path, tt.body)
			e := decodeJSON[wireError](t, body)
			if status != http.StatusForbidden || e.Code != 403 || e.ReasonPhrase != "Forbidden" {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}
	if got := f.sim.AuthsFor(f.user.ID); len(got) != 1 || got[0].OperationID != "" {
		t.Fatalf("a refused write changed something: %+v", got)
	}
}

func TestLockSyncs(t *testing.T) {
	f := newFixture(t, Options{LockSyncInterval: 6 * time.Hour})
	a := f.mustCreate(t) // at 2s after the lock's creation
	lockCount := func() int { return f.sim.AuthsFor(f.user.ID)[0].LockCount }
	tests := []struct {
		name string
		step func()
		want int
	}{
		{"use shows only in the log", func() { f.use(t) }, 0},
		{"not even much later", func() { f.advance(6*time.Hour - 3*time.Second) }, 0},
		{"the periodic sync, 6h after the lock's creation", func() { f.advance(time.Second) }, 1},
		{"two more uses", func() { f.use(t); f.use(t) }, 1},
		{"a sync asked for", func() {
			if status, _ := f.call("POST", fmt.Sprintf("/smartlock/%d/sync", f.lock.ID), ""); status != 204 {
				t.Fatal(status)
			}
		}, 1},
		{"takes the lock delay", func() { f.advance(2 * time.Second) }, 3},
		{"a use while offline", func() {
			_ = f.sim.SetOffline(f.lock.ID, true)
			f.use(t)
		}, 3},
		{"no sync while offline, for days", func() {
			_ = f.sim.SyncLock(f.lock.ID)
			f.advance(72 * time.Hour)
		}, 3},
		{"the asked sync once back online", func() {
			_ = f.sim.SetOffline(f.lock.ID, false)
			f.advance(2 * time.Second)
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.step()
			if got := lockCount(); got != tt.want {
				t.Fatalf("lockCount %d, want %d", got, tt.want)
			}
		})
	}
	if got := f.sim.AuthsFor(f.user.ID)[0]; !got.LastActiveDate.Equal(f.sim.Log()[3].Date) || got.UpdateDate != a.UpdateDate {
		t.Fatalf("lastActiveDate %v, updateDate %v", got.LastActiveDate, got.UpdateDate)
	}
	if err := f.sim.SyncLock(1); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("sync of no lock: %v", err)
	}
}

func (f *fixture) use(t *testing.T) bridge.LogEntry {
	t.Helper()
	e, err := f.sim.Use(f.lock.ID, f.user.ID, bridge.ActionUnlock)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
