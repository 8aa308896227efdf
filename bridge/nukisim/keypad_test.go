package nukisim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// keypadBody is a keypad code create; extra is added to the JSON object.
func keypadBody(name string, code int, extra string) string {
	return fmt.Sprintf(`{"type":13,"name":%q,"code":%d,"remoteAllowed":false%s}`, name, code, extra)
}

// mustCreateKeypadCode creates a keypad code on the fixture's lock and lets
// the lock take it.
func (f *fixture) mustCreateKeypadCode(t *testing.T, name string, code int, extra string) bridge.Auth {
	t.Helper()
	if status, body := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody(name, code, extra)); status != 204 {
		t.Fatalf("keypad code create: %d %s", status, body)
	}
	f.advance(2 * time.Second)
	for _, a := range f.sim.Auths() {
		if a.Type == bridge.AuthTypeKeypadCode && a.Code.Reveal() == fmt.Sprint(code) {
			return a
		}
	}
	t.Fatalf("keypad code %d not listed after the lock delay", code)
	return bridge.Auth{}
}

func TestKeypadShowsInTheSmartlockConfig(t *testing.T) {
	f := newFixture(t, Options{})
	paired := f.sim.AddLock(bridge.Lock{Name: "Back", Keypad: true})
	config := func(id int64) map[string]any {
		t.Helper()
		_, body := f.call("GET", "/smartlock", "")
		for _, l := range decodeJSON[[]map[string]any](t, body) {
			if l["smartlockId"] == float64(id) {
				c, _ := l["config"].(map[string]any)
				return c
			}
		}
		t.Fatalf("lock %d not listed: %s", id, body)
		return nil
	}
	keypadOf := func(id int64) bool {
		for _, l := range f.sim.Locks() {
			if l.ID == id {
				return l.Keypad
			}
		}
		return false
	}
	tests := []struct {
		name        string
		lock        int64
		set         Keypad
		one, two    bool
		lockHasOne  bool
		setFirstErr error
	}{
		{"none", f.lock.ID, NoKeypad, false, false, false, nil},
		{"paired when added", paired.ID, Keypad1, true, false, true, nil},
		{"keypad 2", f.lock.ID, Keypad2, false, true, true, nil},
		{"unpaired", paired.ID, NoKeypad, false, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "paired when added" {
				if err := f.sim.SetKeypad(tt.lock, tt.set); err != nil {
					t.Fatal(err)
				}
			}
			c := config(tt.lock)
			if c["keypadPaired"] != tt.one || c["keypad2Paired"] != tt.two || c["name"] == "" {
				t.Fatalf("config %v", c)
			}
			if keypadOf(tt.lock) != tt.lockHasOne {
				t.Fatalf("Locks() says keypad %v", !tt.lockHasOne)
			}
		})
	}
	if err := f.sim.SetKeypad(1, Keypad1); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("keypad on no lock: %v", err)
	}
	if err := f.sim.SetKeypad(f.lock.ID, Keypad(7)); !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("keypad model 7: %v", err)
	}
}

func TestKeypadCodeCreate(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.sim.SetKeypad(f.lock.ID, Keypad1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.AddAuth(bridge.Auth{SmartlockID: f.lock.ID, AccountUserID: f.user.ID, Name: "Ann", Enabled: true}); err != nil {
		t.Fatal(err) // takes the lock's authId 1
	}
	path := fmt.Sprintf("/smartlock/%d/auth", f.lock.ID)
	asked := f.c.Now()
	from, until := asked.Add(time.Hour), asked.Add(72*time.Hour)
	body := keypadBody("Flat 3", 345678, fmt.Sprintf(`,"allowedFromDate":%q,"allowedUntilDate":%q,"allowedWeekDays":127,"allowedFromTime":420,"allowedUntilTime":1320`,
		from.Format(time.RFC3339), until.Format(time.RFC3339)))
	if status, b := f.call("PUT", path, body); status != 204 {
		t.Fatalf("create: %d %s", status, b)
	}
	_, listed := f.call("GET", "/smartlock/auth?types=13", "")
	if string(listed) != "[]\n" {
		t.Fatalf("listed before the lock took it: %s", listed)
	}
	f.advance(2 * time.Second)
	_, listed = f.call("GET", path+"?types=13", "")
	got := decodeJSON[[]map[string]any](t, listed)
	if len(got) != 1 {
		t.Fatalf("after the lock delay: %s", listed)
	}
	want := map[string]any{"type": 13.0, "name": "Flat 3", "code": 345678.0, "authId": 2.0, "enabled": true,
		"smartlockId": float64(f.lock.ID), "allowedFromDate": from.Format(dateLayout),
		"allowedUntilDate": until.Format(dateLayout), "allowedWeekDays": 127.0, "allowedFromTime": 420.0,
		"allowedUntilTime": 1320.0, "creationDate": asked.Format(dateLayout), "lockCount": 0.0}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	if _, ok := got[0]["accountUserId"]; ok {
		t.Errorf("a keypad code has an accountUserId: %s", listed)
	}
	if n := len(f.sim.Emails()); n != 0 {
		t.Errorf("a keypad code sent %d emails", n)
	}
	_, appOnly := f.call("GET", "/smartlock/auth?types=0", "")
	if strings.Contains(string(appOnly), `"code"`) {
		t.Errorf("an app authorization lists a code: %s", appOnly)
	}
}

func TestKeypadCodeRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	bare := f.sim.AddLock(bridge.Lock{Name: "Shed"})
	if err := f.sim.SetKeypad(f.lock.ID, Keypad2); err != nil {
		t.Fatal(err)
	}
	f.mustCreateKeypadCode(t, "Taken", 456789, "")
	if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody("Waiting", 567891, "")); status != 204 {
		t.Fatal(status) // the lock has not taken it yet
	}
	front := fmt.Sprintf("/smartlock/%d/auth", f.lock.ID)
	tests := []struct {
		name, path, body string
		status           int
		says             string
	}{
		{"lock without keypad", fmt.Sprintf("/smartlock/%d/auth", bare.ID), keypadBody("K", 345678, ""), 400, "no keypad is paired"},
		{"five digits", front, keypadBody("K", 34567, ""), 400, "must have 6 digits"},
		{"seven digits", front, keypadBody("K", 3456789, ""), 400, "must have 6 digits"},
		{"negative", front, keypadBody("K", -34567, ""), 400, "must have 6 digits"},
		{"a zero", front, keypadBody("K", 304567, ""), 400, "must not contain 0"},
		{"starts with 12", front, keypadBody("K", 123456, ""), 400, "must not start with 12"},
		{"no name", front, `{"type":13,"code":345678,"remoteAllowed":false}`, 400, "name is required"},
		{"blank name", front, keypadBody(" ", 345678, ""), 400, "name is required"},
		{"no code", front, `{"type":13,"name":"K","remoteAllowed":false}`, 400, "code is required"},
		{"code as a string", front, `{"type":13,"name":"K","code":"345678","remoteAllowed":false}`, 400, "not valid JSON"},
		{"with an account user", front, keypadBody("K", 345678, fmt.Sprintf(`,"accountUserId":%d`, f.user.ID)), 400, "accountUserId is not allowed"},
		{"a code on an app authorization", front, fmt.Sprintf(`{"name":"Ann","accountUserId":%d,"remoteAllowed":true,"code":345678}`, f.user.ID), 400, "code is only allowed"},
		{"duplicate", front, keypadBody("Again", 456789, ""), 409, "456789 is already used"},
		{"duplicate of a create the lock has not taken", front, keypadBody("Again", 567891, ""), 409, "already used"},
		{"several locks, one without keypad", "/smartlock/auth",
			keypadBody("K", 345678, fmt.Sprintf(`,"smartlockIds":[%d,%d]`, f.lock.ID, bare.ID)), 400, "no keypad is paired"},
		{"several locks, a duplicate on one", "/smartlock/auth",
			keypadBody("K", 456789, fmt.Sprintf(`,"smartlockIds":[%d]`, f.lock.ID)), 409, "already used"},
	}
	before := len(f.sim.Auths())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call("PUT", tt.path, tt.body)
			e := decodeJSON[wireError](t, body)
			if status != tt.status || e.Code != tt.status || !strings.Contains(e.Description, tt.says) {
				t.Fatalf("got %d %s, want %d saying %q", status, body, tt.status, tt.says)
			}
		})
	}
	f.advance(time.Minute)
	if n := len(f.sim.Auths()); n != before+1 {
		t.Fatalf("%d authorizations, want %d: only the waiting create may have been added", n, before+1)
	}

	t.Run("a full lock", func(t *testing.T) {
		for i := len(f.sim.Auths()); i < maxAuthsPerLock; i++ {
			if _, err := f.sim.AddAuth(bridge.Auth{SmartlockID: f.lock.ID, Type: 2, Name: "Fob", Enabled: true}); err != nil {
				t.Fatal(err)
			}
		}
		status, body := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody("K", 345678, ""))
		if status != http.StatusConflict || !strings.Contains(string(body), "200 authorizations") {
			t.Fatalf("got %d %s", status, body)
		}
	})
}

func TestKeypadCodeDeleteAndChange(t *testing.T) {
	f := newFixture(t, Options{})
	_ = f.sim.SetKeypad(f.lock.ID, Keypad1)
	a := f.mustCreateKeypadCode(t, "Guest", 345678, "")
	other := f.mustCreateKeypadCode(t, "Cleaner", 567891, "")

	t.Run("a change of code waits for the lock and refuses a code in use", func(t *testing.T) {
		if status, body := f.call("POST", f.authPath(a), `{"name":"Guest","code":567891}`); status != http.StatusConflict {
			t.Fatalf("change to a code in use: %d %s", status, body)
		}
		if status, body := f.call("POST", f.authPath(a), `{"name":"Guest","code":102030}`); status != http.StatusBadRequest {
			t.Fatalf("change to a code with zeros: %d %s", status, body)
		}
		if status, body := f.call("POST", f.authPath(a), `{"name":"Guest","code":789123}`); status != 204 {
			t.Fatalf("change: %d %s", status, body)
		}
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody("K", 789123, "")); status != http.StatusConflict {
			t.Fatalf("create with the code a change is setting: %d", status)
		}
		if got := f.sim.Auths()[0]; got.Code.Reveal() != "345678" || got.OperationID == "" {
			t.Fatalf("while changing: code %s, operation %q", got.Code.Reveal(), got.OperationID)
		}
		f.advance(2 * time.Second)
		if got := f.sim.Auths()[0]; got.Code.Reveal() != "789123" || got.OperationID != "" {
			t.Fatalf("changed: code %s, operation %q", got.Code.Reveal(), got.OperationID)
		}
	})
	t.Run("an app authorization takes no code", func(t *testing.T) {
		app := f.mustCreate(t)
		if status, body := f.call("POST", f.authPath(app), `{"name":"Ann","code":345678}`); status != http.StatusBadRequest {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("delete keeps the code taken until the lock has done it", func(t *testing.T) {
		if status, body := f.call("DELETE", f.authPath(other), ""); status != 204 {
			t.Fatalf("delete: %d %s", status, body)
		}
		if status, _ := f.call("DELETE", f.authPath(other), ""); status != http.StatusLocked {
			t.Fatalf("second delete: %d", status)
		}
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody("Cleaner", 567891, "")); status != http.StatusConflict {
			t.Fatalf("create again while the delete waits: %d", status)
		}
		f.advance(2 * time.Second)
		for _, got := range f.sim.Auths() {
			if got.ID == other.ID {
				t.Fatal("still listed after the lock delay")
			}
		}
		again := f.mustCreateKeypadCode(t, "Cleaner", 567891, "")
		if again.ID == other.ID || again.AuthID <= other.AuthID {
			t.Fatalf("created again: %+v", again)
		}
	})
	t.Run("AddAuth refuses a code the lock has", func(t *testing.T) {
		if _, err := f.sim.AddAuth(bridge.Auth{SmartlockID: f.lock.ID, Type: 13, Name: "X", Code: "789123"}); !errors.Is(err, bridge.ErrConflict) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestEnterCode(t *testing.T) {
	f := newFixture(t, Options{LockSyncInterval: 1000 * time.Hour})
	_ = f.sim.SetKeypad(f.lock.ID, Keypad1)
	base := f.c.Now() // Thursday 2026-11-26 10:00 UTC
	stay := f.mustCreateKeypadCode(t, "Stay", 345678, fmt.Sprintf(`,"allowedFromDate":%q,"allowedUntilDate":%q`,
		base.Add(time.Hour).Format(time.RFC3339), base.Add(49*time.Hour).Format(time.RFC3339)))
	weekdays := f.mustCreateKeypadCode(t, "Thursdays", 456789, `,"allowedWeekDays":8,"allowedFromTime":600,"allowedUntilTime":720`)
	evening := f.mustCreateKeypadCode(t, "Evenings", 567891, `,"allowedFromTime":1080`)
	overnight := f.mustCreateKeypadCode(t, "Overnight", 678912, `,"allowedFromTime":1320,"allowedUntilTime":360`)
	off := f.mustCreateKeypadCode(t, "Off", 789123, "")
	if status, _ := f.call("POST", f.authPath(off), `{"name":"Off","enabled":false}`); status != 204 {
		t.Fatal(status)
	}
	f.advance(2 * time.Second)
	tests := []struct {
		name  string
		at    time.Duration // from base, in time order
		code  string
		auth  bridge.Auth // zero: none
		state int
	}{
		{"before the stay", 30 * time.Minute, "345678", stay, stateRejected},
		{"Thursday within the hours", 30 * time.Minute, "456789", weekdays, bridge.StateSuccess},
		{"before the evening", 30 * time.Minute, "567891", evening, stateRejected},
		{"disabled", 30 * time.Minute, "789123", off, stateRejected},
		{"wrong code", 30 * time.Minute, "999999", bridge.Auth{}, stateWrongCode},
		{"in the stay", 2*time.Hour + 30*time.Minute, "345678", stay, bridge.StateSuccess},
		{"Thursday after the hours", 2*time.Hour + 30*time.Minute, "456789", weekdays, stateRejected},
		{"in the evening, until midnight", 13*time.Hour + 59*time.Minute, "567891", evening, bridge.StateSuccess},
		{"a window past midnight never opens", 14*time.Hour + 30*time.Minute, "678912", overnight, stateRejected},
		{"Friday within the hours", 24*time.Hour + 30*time.Minute, "456789", weekdays, stateRejected},
		{"at the stay's end", 49 * time.Hour, "345678", stay, stateRejected},
		{"a week later", 7*24*time.Hour + 30*time.Minute, "456789", weekdays, bridge.StateSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.c.Advance(base.Add(tt.at).Sub(f.c.Now()))
			e, err := f.sim.EnterCode(f.lock.ID, tt.code)
			if err != nil {
				t.Fatal(err)
			}
			want := bridge.LogEntry{ID: e.ID, SmartlockID: f.lock.ID, AuthID: tt.auth.ID, Name: tt.auth.Name,
				Action: bridge.ActionUnlock, Trigger: bridge.TriggerKeypad, Source: bridge.SourceKeypadCode,
				State: tt.state, Date: f.c.Now()}
			if e != want || e.ID == "" {
				t.Fatalf("entry %+v\nwant  %+v", e, want)
			}
		})
	}
	t.Run("a code the lock has not taken yet", func(t *testing.T) {
		if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), keypadBody("Pending", 891234, "")); status != 204 {
			t.Fatal(status)
		}
		if e, err := f.sim.EnterCode(f.lock.ID, "891234"); err != nil || e.State != stateWrongCode || e.AuthID != "" {
			t.Fatalf("got %+v, %v", e, err)
		}
	})

	t.Run("the log lists keypad entries with their authId", func(t *testing.T) {
		_, body := f.call("GET", fmt.Sprintf("/smartlock/log?authId=%s&limit=50", stay.ID), "")
		got := decodeJSON[[]map[string]any](t, body)
		if len(got) != 3 {
			t.Fatalf("entries of the stay's code: %s", body)
		}
		for k, v := range map[string]any{"authId": stay.ID, "name": "Stay", "trigger": 255.0, "source": 1.0,
			"action": 1.0, "state": 0.0, "smartlockId": float64(f.lock.ID)} {
			if got[1][k] != v {
				t.Errorf("%s = %v, want %v", k, got[1][k], v)
			}
		}
		if _, ok := got[0]["accountUserId"]; ok {
			t.Errorf("a keypad entry has an accountUserId: %v", got[0])
		}
	})
	t.Run("only entries let in count as uses, at the next sync", func(t *testing.T) {
		count := func(id string) int {
			for _, a := range f.sim.Auths() {
				if a.ID == id {
					return a.LockCount
				}
			}
			return -1
		}
		if n := count(stay.ID); n != 0 {
			t.Fatalf("lockCount %d before a sync", n)
		}
		if err := f.sim.SyncLock(f.lock.ID); err != nil {
			t.Fatal(err)
		}
		f.advance(2 * time.Second)
		for _, c := range []struct {
			a    bridge.Auth
			uses int
		}{{stay, 1}, {weekdays, 2}, {evening, 1}, {overnight, 0}, {off, 0}} {
			if n := count(c.a.ID); n != c.uses {
				t.Errorf("%s: lockCount %d, want %d", c.a.Name, n, c.uses)
			}
		}
	})
}

func TestEnterCodeRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name string
		lock int64
		code string
		want error
	}{
		{"no keypad", f.lock.ID, "345678", bridge.ErrConflict},
		{"no lock", 1, "345678", bridge.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.sim.EnterCode(tt.lock, tt.code); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	_ = f.sim.SetKeypad(f.lock.ID, Keypad2)
	for _, code := range []string{"34567", "3456789", "304567", "34567a", ""} {
		if _, err := f.sim.EnterCode(f.lock.ID, code); !errors.Is(err, bridge.ErrInvalid) {
			t.Errorf("code %q: %v", code, err)
		}
	}
	if n := len(f.sim.Log()); n != 0 {
		t.Fatalf("%d entries logged, want none", n)
	}
}

func TestKeypadControlOverHTTP(t *testing.T) {
	c := newClock()
	sim, srv := newServer(t, Options{Now: c.Now, Instant: true})
	post := func(path, body string) (int, []byte) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := post("/_sim/seed", `{"locks":3,"keypads":2}`)
	seeded := decodeJSON[Seeded](t, body)
	if status != 200 {
		t.Fatalf("seed: %d %s", status, body)
	}
	for i, l := range sim.Locks() {
		if l.Keypad != (i < 2) {
			t.Errorf("seeded lock %d: keypad %v", i, l.Keypad)
		}
	}
	if status, body := post("/_sim/seed", `{"locks":1,"keypads":2}`); status != http.StatusBadRequest {
		t.Errorf("more keypads than locks: %d %s", status, body)
	}
	bare := seeded.Locks[2]
	if status, body := post("/_sim/enter", fmt.Sprintf(`{"smartlockId":%d,"code":"345678"}`, bare)); status != http.StatusConflict {
		t.Fatalf("enter without keypad: %d %s", status, body)
	}
	if status, body := post("/_sim/keypad", fmt.Sprintf(`{"smartlockId":%d,"keypad":2}`, bare)); status != http.StatusNoContent {
		t.Fatalf("pair: %d %s", status, body)
	}
	if status, body := call(t, srv, "PUT", fmt.Sprintf("/smartlock/%d/auth", bare), keypadBody("K", 345678, "")); status != 204 {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = post("/_sim/enter", fmt.Sprintf(`{"smartlockId":%d,"code":"345678"}`, bare))
	e := decodeJSON[bridge.LogEntry](t, body)
	if status != 200 || e.State != bridge.StateSuccess || e.AuthID == "" || e.Trigger != bridge.TriggerKeypad {
		t.Fatalf("enter: %d %s", status, body)
	}
	if a := sim.Auths()[0]; a.LockCount != 1 {
		t.Errorf("Instant: lockCount %d right after the entry, want 1", a.LockCount)
	}
	if status, body := post("/_sim/keypad", fmt.Sprintf(`{"smartlockId":%d,"keypad":9}`, bare)); status != http.StatusBadRequest {
		t.Fatalf("keypad 9: %d %s", status, body)
	}
}
