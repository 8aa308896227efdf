package nukiweb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// The keypad methods the core will call; they are not in bridge.Nuki yet.
var _ interface {
	CreateKeypadCode(ctx context.Context, smartlockIDs []int64, k bridge.KeypadGrant) error
	FindKeypadCode(ctx context.Context, smartlockID int64, code bridge.Secret) (bridge.Auth, error)
	DeleteAuth(ctx context.Context, smartlockID int64, authID string) error
	ActivityLog(ctx context.Context, since time.Time) ([]bridge.LogEntry, bool, error)
} = (*nukiweb.Client)(nil)

// keypadRun is a simulator with three locks (a Keypad, a Keypad 2, none) and
// a client that logs to logs, on the simulator's clock.
type keypadRun struct {
	sim               *nukisim.Sim
	c                 *nukiweb.Client
	clock             *simClock
	logs              *bridgetest.Logs
	keypad, two, bare int64
	errs              []error // every error the client returned
	codesUsed         []string
	ctx               context.Context
}

func newKeypadRun(t *testing.T, opts nukisim.Options) *keypadRun {
	t.Helper()
	r := &keypadRun{clock: &simClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}, logs: &bridgetest.Logs{},
		ctx: context.Background()}
	opts.Token, opts.Now = token, r.clock.Now
	r.sim = nukisim.New(opts)
	srv := httptest.NewServer(r.sim)
	t.Cleanup(func() { srv.Close(); r.sim.Close() })
	r.c = nukiweb.New(srv.URL, token, nukiweb.Options{Sleep: r.clock.sleep, Now: r.clock.Now, Logger: r.logs.Logger()})
	r.keypad = r.sim.AddLock(bridge.Lock{Name: "Front", Type: 4, Keypad: true}).ID
	r.two = r.sim.AddLock(bridge.Lock{Name: "Flat", Type: 4}).ID
	if err := r.sim.SetKeypad(r.two, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	r.bare = r.sim.AddLock(bridge.Lock{Name: "Garage", Type: 4}).ID
	return r
}

// settle lets the locks carry out what waits for them.
func (r *keypadRun) settle() {
	r.clock.Advance(lockDelay)
	r.sim.Settle()
}

// keep records an error the client returned, for the final scan.
func (r *keypadRun) keep(err error) error {
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return err
}

// grant is a keypad grant whose code the final scan looks for.
func (r *keypadRun) grant(name, code string, a bridge.Access) bridge.KeypadGrant {
	r.codesUsed = append(r.codesUsed, code)
	return bridge.KeypadGrant{Name: name, Code: bridge.Secret(code), Access: a}
}

// noCodeShown fails the test when any code used appears in a log line or an
// error the client returned, in any form the error can be printed.
func (r *keypadRun) noCodeShown(t *testing.T) {
	t.Helper()
	logs := r.logs.String()
	for _, code := range r.codesUsed {
		if strings.Contains(logs, code) {
			t.Errorf("keypad code %s in the logs:\n%s", code, logs)
		}
		for _, err := range r.errs {
			var ne *bridge.NukiError
			shown := err.Error() + fmt.Sprintf(" %v %+v %#v", err, err, err)
			if errors.As(err, &ne) {
				shown += " " + ne.Description
			}
			if strings.Contains(shown, code) {
				t.Errorf("keypad code %s in the error %q", code, shown)
			}
		}
	}
}

func TestKeypadCodesAgainstSimulator(t *testing.T) {
	tests := []struct {
		name      string
		ignore    bool
		userPages int
	}{
		{"offset and limit honoured", false, 3}, // 100, 100, 50
		{"offset and limit ignored", true, 2},   // all 250, then all 250 again: nothing new
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newKeypadRun(t, nukisim.Options{IgnoreUserPaging: tt.ignore})
			seeded, err := r.sim.Seed(nukisim.SeedOptions{Locks: 2, Users: 250, Auths: 250})
			if err != nil {
				t.Fatal(err)
			}

			snap, err := r.c.Fetch(r.ctx)
			if err != nil {
				t.Fatal(err)
			}
			keypads := map[int64]bool{}
			for _, l := range snap.Locks {
				keypads[l.ID] = l.Keypad
			}
			if !keypads[r.keypad] || !keypads[r.two] || keypads[r.bare] || keypads[seeded.Locks[0]] || len(keypads) != 5 {
				t.Fatalf("keypads %v", keypads)
			}

			from := r.clock.Now().Add(time.Hour)
			until := from.Add(48 * time.Hour)
			stay := bridge.Access{From: from, Until: until}
			if err := r.keep(r.c.CreateKeypadCode(r.ctx, []int64{r.keypad}, r.grant("Stay 12", "345678", stay))); err != nil {
				t.Fatal(err)
			}
			both := bridge.Access{WeekDays: 96, FromTime: 480, UntilTime: 1200}
			if err := r.keep(r.c.CreateKeypadCode(r.ctx, []int64{r.keypad, r.two}, r.grant("Cleaner", "987654", both))); err != nil {
				t.Fatal(err)
			}
			if _, err := r.c.FindKeypadCode(r.ctx, r.keypad, "345678"); !errors.Is(r.keep(err), bridge.ErrNotFound) {
				t.Fatalf("FindKeypadCode before the lock has it: %v", err)
			}
			if snap, err := r.c.Fetch(r.ctx); err != nil || len(snap.KeypadCodes) != 0 {
				t.Fatalf("listed before the lock has them: %+v, %v", snap.KeypadCodes, err)
			}
			r.settle()

			r.sim.ResetCalls()
			snap, err = r.c.Fetch(r.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Auths) != 250 || len(snap.Users) != 250 {
				t.Errorf("%d app authorizations, %d users; want 250 each", len(snap.Auths), len(snap.Users))
			}
			if want := 2 + tt.userPages; snap.Calls != want || r.sim.Calls() != want {
				t.Errorf("Calls %d, simulator %d; want %d (locks, authorizations with keypad codes, user pages)",
					snap.Calls, r.sim.Calls(), want)
			}
			byLockCode := map[string]bridge.Auth{}
			for _, a := range snap.KeypadCodes {
				byLockCode[fmt.Sprint(a.SmartlockID, "/", a.Code.Reveal())] = a
			}
			if len(snap.KeypadCodes) != 3 || len(byLockCode) != 3 {
				t.Fatalf("keypad codes %+v", snap.KeypadCodes)
			}
			got := byLockCode[fmt.Sprint(r.keypad, "/345678")]
			if got.Type != bridge.AuthTypeKeypadCode || got.Name != "Stay 12" || got.AccountUserID != 0 || got.AuthID == 0 ||
				!got.Access.Equal(bridge.Access{From: from, Until: until}) || got.OperationID != "" || !got.Enabled {
				t.Errorf("stay code %+v", got)
			}
			for _, lock := range []int64{r.keypad, r.two} {
				if a := byLockCode[fmt.Sprint(lock, "/987654")]; a.Name != "Cleaner" || !a.Access.Equal(both) {
					t.Errorf("cleaner code on %d: %+v", lock, a)
				}
			}
			found, err := r.c.FindKeypadCode(r.ctx, r.keypad, "345678")
			if r.keep(err) != nil || found.ID != got.ID || found.Code.Reveal() != "345678" {
				t.Fatalf("FindKeypadCode = %+v, %v", found, err)
			}
			if _, err := r.c.FindKeypadCode(r.ctx, r.two, "345678"); !errors.Is(r.keep(err), bridge.ErrNotFound) {
				t.Fatalf("FindKeypadCode on a lock without that code: %v", err)
			}
			if _, err := r.c.FindKeypadCode(r.ctx, 999_999, "345678"); !errors.Is(r.keep(err), bridge.ErrNukiLockDenied) {
				t.Fatalf("FindKeypadCode on a lock that is not the account's: %v", err)
			}

			since := r.clock.Now()
			r.clock.Advance(2 * time.Hour) // inside the stay
			in, err := r.sim.EnterCode(r.keypad, "345678")
			if err != nil {
				t.Fatal(err)
			}
			wrong, err := r.sim.EnterCode(r.keypad, "345679")
			if err != nil {
				t.Fatal(err)
			}
			entries, truncated, err := r.c.ActivityLog(r.ctx, since)
			if r.keep(err) != nil || truncated || len(entries) != 2 {
				t.Fatalf("ActivityLog = %+v, %v, %v", entries, truncated, err)
			}
			want := bridge.LogEntry{ID: in.ID, SmartlockID: r.keypad, AuthID: got.ID, Name: "Stay 12",
				Action: bridge.ActionUnlock, Trigger: bridge.TriggerKeypad, Source: bridge.SourceKeypadCode,
				State: bridge.StateSuccess, Date: in.Date}
			if entries[0] != want {
				t.Errorf("keypad entry\n got %+v\nwant %+v", entries[0], want)
			}
			if e := entries[1]; e.ID != wrong.ID || e.Trigger != bridge.TriggerKeypad || e.Source != bridge.SourceKeypadCode ||
				e.State == bridge.StateSuccess || e.AuthID != "" {
				t.Errorf("wrong code entry %+v", e)
			}

			if err := r.keep(r.c.DeleteAuth(r.ctx, r.keypad, got.ID)); err != nil {
				t.Fatal(err)
			}
			if err := r.c.CreateKeypadCode(r.ctx, []int64{r.keypad}, r.grant("Stay 12", "345678", stay)); !errors.Is(r.keep(err), bridge.ErrConflict) {
				t.Fatalf("the same code while its delete waits for the lock: %v", err)
			}
			r.settle()
			if _, err := r.c.FindKeypadCode(r.ctx, r.keypad, "345678"); !errors.Is(r.keep(err), bridge.ErrNotFound) {
				t.Fatalf("FindKeypadCode after the delete: %v", err)
			}
			if err := r.keep(r.c.CreateKeypadCode(r.ctx, []int64{r.keypad}, r.grant("Stay 12", "345678", stay))); err != nil {
				t.Fatalf("the same code once deleted: %v", err)
			}
			r.noCodeShown(t)
		})
	}
}

// TestKeypadRefusalsAgainstSimulator checks that each of Nuki's refusals
// reaches the core as its own error with Nuki's words, and never with the
// code.
func TestKeypadRefusalsAgainstSimulator(t *testing.T) {
	r := newKeypadRun(t, nukisim.Options{})
	// A 429 first, so that the create is retried and logged.
	r.sim.InjectFault(nukisim.Fault{Method: "PUT", Path: "/smartlock/", Status: 429, RetryAfter: "1", Times: 1})
	if err := r.keep(r.c.CreateKeypadCode(r.ctx, []int64{r.keypad}, r.grant("Taken", "456789", bridge.Access{}))); err != nil {
		t.Fatal(err)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "retrying") {
		t.Fatalf("the retried create left no log line:\n%s", logs)
	}
	r.settle()
	for i := 1; i < 200; i++ {
		if _, err := r.sim.AddAuth(bridge.Auth{SmartlockID: r.two, Type: 2, Name: "Fob", Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.keep(r.c.CreateKeypadCode(r.ctx, []int64{r.two}, r.grant("Last", "567891", bridge.Access{}))); err != nil {
		t.Fatal(err) // the 200th
	}
	tests := []struct {
		name   string
		locks  []int64
		k      bridge.KeypadGrant
		kind   error
		reason error
		says   string // in Nuki's words
	}{
		{"lock without keypad", []int64{r.bare}, r.grant("K", "345678", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "no keypad is paired"},
		{"five digits", []int64{r.keypad}, r.grant("K", "34567", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "must have 6 digits"},
		{"seven digits", []int64{r.keypad}, r.grant("K", "3456789", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "must have 6 digits"},
		{"a leading zero", []int64{r.keypad}, r.grant("K", "034567", bridge.Access{}), bridge.ErrInvalid, bridge.ErrInvalid, ""},
		{"a zero", []int64{r.keypad}, r.grant("K", "340567", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "must not contain 0"},
		{"starts with 12", []int64{r.keypad}, r.grant("K", "123456", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "must not start with 12"},
		{"no name", []int64{r.keypad}, r.grant("", "345678", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrInvalid, "name is required"},
		{"duplicate", []int64{r.keypad}, r.grant("Again", "456789", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrConflict, "is already used"},
		{"duplicate on one of several", []int64{r.two, r.keypad}, r.grant("Again", "456789", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrConflict, "is already used"},
		{"200 authorizations", []int64{r.two}, r.grant("K", "678912", bridge.Access{}), bridge.ErrNukiRejected, bridge.ErrConflict, "200 authorizations"},
		{"a lock not the account's", []int64{999_999}, r.grant("K", "678912", bridge.Access{}), bridge.ErrNukiLockDenied, nil, ""},
		{"no lock", nil, r.grant("K", "678912", bridge.Access{}), bridge.ErrInvalid, bridge.ErrInvalid, ""},
		{"not a number", []int64{r.keypad}, r.grant("K", "34x678", bridge.Access{}), bridge.ErrInvalid, bridge.ErrInvalid, ""},
		{"a sign", []int64{r.keypad}, r.grant("K", "+345678", bridge.Access{}), bridge.ErrInvalid, bridge.ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.sim.ResetCalls()
			err := r.keep(r.c.CreateKeypadCode(r.ctx, tt.locks, tt.k))
			if !errors.Is(err, tt.kind) || tt.reason != nil && !errors.Is(err, tt.reason) {
				t.Fatalf("got %v, want %v and %v", err, tt.kind, tt.reason)
			}
			var ne *bridge.NukiError
			switch {
			case tt.kind == bridge.ErrInvalid:
				if errors.As(err, &ne) || r.sim.Calls() != 0 {
					t.Errorf("refused by the client, yet %d requests made (%v)", r.sim.Calls(), err)
				}
			case !errors.As(err, &ne):
				t.Errorf("got %T, want a *bridge.NukiError", err)
			case !strings.Contains(ne.Description, tt.says):
				t.Errorf("Description %q, want Nuki's words %q", ne.Description, tt.says)
			}
		})
	}
	r.settle()
	if n := len(r.sim.Auths()); n != 1+200 {
		t.Errorf("%d authorizations listed, want 201: a refused create added one", n)
	}
	r.noCodeShown(t)
}

// TestKeypadCodeRequests checks what the client sends and that a code Nuki
// quotes in any form stays out of the error.
func TestKeypadCodeRequests(t *testing.T) {
	c, rc, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(204) }, nukiweb.Options{})
	ctx := context.Background()
	from := time.Date(2026, 12, 1, 15, 0, 0, 0, time.FixedZone("CET", 3600))
	k := bridge.KeypadGrant{Name: "Flat 3", Code: "345678",
		Access: bridge.Access{From: from, Until: from.Add(72 * time.Hour), WeekDays: 127, FromTime: 420, UntilTime: 1320}}
	if err := c.CreateKeypadCode(ctx, []int64{17}, k); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateKeypadCode(ctx, []int64{17, 18}, k); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	requests, bodies := rc.requests, rc.bodies
	rc.mu.Unlock()
	if fmt.Sprint(requests) != "[PUT /smartlock/17/auth PUT /smartlock/auth]" {
		t.Fatalf("requests %v", requests)
	}
	for i, want := range []string{
		`{"name":"Flat 3","allowedFromDate":"2026-12-01T14:00:00.000Z","allowedUntilDate":"2026-12-04T14:00:00.000Z","allowedWeekDays":127,"allowedFromTime":420,"allowedUntilTime":1320,"remoteAllowed":false,"type":13,"code":345678}`,
		`{"name":"Flat 3","allowedFromDate":"2026-12-01T14:00:00.000Z","allowedUntilDate":"2026-12-04T14:00:00.000Z","allowedWeekDays":127,"allowedFromTime":420,"allowedUntilTime":1320,"smartlockIds":[17,18],"remoteAllowed":false,"type":13,"code":345678}`,
	} {
		if bodies[i] != want {
			t.Errorf("body %d\n got %s\nwant %s", i, bodies[i], want)
		}
	}
}

// TestKeypadCodeNotInErrors checks that a code Nuki quotes, in any form,
// stays out of the error while the rest of Nuki's words are kept.
func TestKeypadCodeNotInErrors(t *testing.T) {
	tests := []struct {
		name, code, quote string
		locks             []int64
		status            int
		kind, reason      error
		left              string // what must remain of Nuki's words
	}{
		{"the code as is", "345678", "Keypad code 345678 already exists", []int64{17}, 409,
			bridge.ErrNukiRejected, bridge.ErrConflict, "Keypad code [code] already exists"},
		{"in a sentence", "345678", "Bad parameter: code=345678, invalid", []int64{17}, 400,
			bridge.ErrNukiRejected, bridge.ErrInvalid, "Bad parameter: code=[code], invalid"},
		{"a seven digit code", "3456789", "code 3456789 is too long", []int64{17}, 400,
			bridge.ErrNukiRejected, bridge.ErrInvalid, "code [code] is too long"},
		{"a code with a 0", "340567", "code 340567 has a 0", []int64{17}, 400,
			bridge.ErrNukiRejected, bridge.ErrInvalid, "code [code] has a 0"},
		{"another six digit number", "345678", "code 987654 of smartlock 17000000001 collides", []int64{17}, 409,
			bridge.ErrNukiRejected, bridge.ErrConflict, "code [code] of smartlock 17000000001 collides"},
		{"other numbers stay", "345678", "smartlock 17000000001 has 200 authorizations", []int64{17, 18}, 409,
			bridge.ErrNukiRejected, bridge.ErrConflict, "smartlock 17000000001 has 200 authorizations"},
		{"403 on several locks is a lock, not the token", "345678", "Forbidden", []int64{17, 18}, 403,
			bridge.ErrNukiLockDenied, nil, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newClient(t, func(w http.ResponseWriter, r *http.Request, n int) {
				nukiError(w, tt.status, tt.quote)
			}, nukiweb.Options{})
			err := c.CreateKeypadCode(context.Background(), tt.locks, bridge.KeypadGrant{Name: "K", Code: bridge.Secret(tt.code)})
			var ne *bridge.NukiError
			if !errors.As(err, &ne) || ne.Kind != tt.kind || ne.Reason != tt.reason || ne.Description != tt.left {
				t.Fatalf("got %v, want %v, %v with %q", err, tt.kind, tt.reason, tt.left)
			}
			if strings.Contains(err.Error(), tt.code) {
				t.Errorf("the code is in %q", err)
			}
		})
	}
}

func TestCheckKeypadCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"345678", true}, {"999999", true}, {"211111", true},
		{"34567", false}, {"3456789", false}, {"340567", false}, {"123456", false}, {"12", false}, {"", false},
		{"34567a", false}, {"-34567", false},
	}
	for _, tt := range tests {
		err := bridge.CheckKeypadCode(bridge.Secret(tt.code))
		if (err == nil) != tt.ok || err != nil && (!errors.Is(err, bridge.ErrInvalid) || tt.code != "" && strings.Contains(err.Error(), tt.code)) {
			t.Errorf("CheckKeypadCode(%q) = %v", tt.code, err)
		}
	}
}
