package nukisim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// SeedOptions says how much to add with Seed.
type SeedOptions struct {
	Locks    int `json:"locks"`
	Keypads  int `json:"keypads"` // how many of the new locks, the first ones, have a keypad paired
	Users    int `json:"users"`
	Auths    int `json:"auths"`    // app authorizations spread over the new users and locks
	Accepted int `json:"accepted"` // how many of those were already redeemed and used once
}

// Seeded reports what Seed added.
type Seeded struct {
	Locks []int64 `json:"locks"`
	Users []int64 `json:"users"`
	Auths int     `json:"auths"`
}

// Seed adds o.Locks locks ("Door 1", …), o.Users users
// (guest1@example.com, …) and o.Auths app authorizations, each for a
// different (user, lock) pair, spread evenly over the new locks. They are
// added as the account stands, with nothing pending: each lock has its
// authorizations (authId made by the lock), and the first o.Accepted were
// redeemed and used once (an unlock in the activity log, lockCount 1 and
// lastActiveDate now, as after the lock's sync). It sends no emails and no
// webhooks. More authorizations than pairs, or per lock than Nuki allows,
// fail with ErrInvalid and add nothing, as do more keypads than locks.
func (s *Sim) Seed(o SeedOptions) (Seeded, error) {
	if o.Locks < 0 || o.Users < 0 || o.Auths < 0 || o.Accepted > o.Auths || o.Keypads < 0 || o.Keypads > o.Locks ||
		(o.Auths > 0 && (o.Auths > o.Locks*o.Users || (o.Auths+o.Locks-1)/max(o.Locks, 1) > maxAuthsPerLock)) {
		return Seeded{}, fmt.Errorf("seed %+v: %w", o, bridge.ErrInvalid)
	}
	s.acquire()
	defer s.release()
	st := &s.state
	now := s.now()
	var out Seeded
	first := len(st.locks)
	for i := range o.Locks {
		l := st.addLock(bridge.Lock{Name: fmt.Sprintf("Door %d", first+i+1), Type: 4, Keypad: i < o.Keypads}, now)
		out.Locks = append(out.Locks, l.ID)
	}
	firstUser := len(st.users)
	for i := 0; len(out.Users) < o.Users; i++ {
		n := firstUser + i + 1
		u, err := st.addUser(bridge.User{Email: fmt.Sprintf("guest%d@example.com", n),
			Name: fmt.Sprintf("Guest %d", n), Language: "en"}, now)
		if err != nil {
			continue // that email exists already
		}
		out.Users = append(out.Users, u.ID)
	}
	for k := range o.Auths {
		r, q := k%o.Users, k/o.Users
		userID, lockID := out.Users[r], out.Locks[(r+q)%o.Locks]
		a := st.addAuth(bridge.Auth{SmartlockID: lockID, AccountUserID: userID, Type: bridge.AuthTypeApp,
			Name: fmt.Sprintf("Guest %d", r+1), Enabled: true, RemoteAllowed: true}, now)
		if k < o.Accepted {
			a.redeemed, a.LockCount, a.LastActiveDate, a.lastUse = true, 1, now, now
			st.log = append(st.log, logEntry{LogEntry: bridge.LogEntry{ID: st.objectID(now), SmartlockID: lockID,
				AccountUserID: userID, AuthID: a.ID, Name: a.Name, Action: bridge.ActionUnlock,
				Trigger: bridge.TriggerApp, Date: now}, deviceType: deviceType(st.locks[lockID].Type)})
		}
		out.Auths++
	}
	return out, nil
}

// AddLock adds a lock, online; ID 0 picks one; with Keypad it has a (first
// model) keypad paired (see SetKeypad). It returns the lock as stored. Its
// periodic syncs are counted from now.
func (s *Sim) AddLock(l bridge.Lock) bridge.Lock {
	s.acquire()
	defer s.release()
	return s.state.addLock(l, s.now())
}

// AddUser adds an account user; ID 0 picks one. An email or id in use fails
// with ErrConflict.
func (s *Sim) AddUser(u bridge.User) (bridge.User, error) {
	s.acquire()
	defer s.release()
	return s.state.addUser(u, s.now())
}

// AddAuth adds an authorization as it stands, as if its lock had taken it
// already (no email, no webhook, nothing pending, any lockCount): ID ""
// picks one, AuthID 0 takes the lock's next authId, zero dates become now.
// A keypad code (Type 13) takes its Code as it is, keypad or not. An unknown
// lock or user fails with ErrNotFound; a second app authorization of a user
// on a lock, or a keypad code the lock has (listed or being created), with
// ErrConflict.
func (s *Sim) AddAuth(a bridge.Auth) (bridge.Auth, error) {
	s.acquire()
	defer s.release()
	if err := s.state.checkAuth(a.SmartlockID, a.AccountUserID, a.Type); err != nil {
		return bridge.Auth{}, err
	}
	if a.Type != bridge.AuthTypeKeypadCode {
		a.Code = ""
	} else if !a.Code.IsZero() && s.state.codeTaken(a.SmartlockID, a.Code.Reveal(), "") {
		return bridge.Auth{}, fmt.Errorf("keypad code on smartlock %d: %w", a.SmartlockID, bridge.ErrConflict)
	}
	if _, taken := s.state.auths[a.ID]; a.ID != "" && taken {
		return bridge.Auth{}, fmt.Errorf("authorization %s: %w", a.ID, bridge.ErrConflict)
	}
	a.OperationID = ""
	as := s.state.addAuth(a, s.now())
	as.lastUse = as.LastActiveDate
	return as.Auth, nil
}

// Accept records that the guest redeemed the invite of their app
// authorization on a lock in the Nuki app. Nothing in the API shows it:
// lockCount, lastActiveDate, appId and authId stay as they are, and no
// webhook is sent; only using the lock (Use) leaves a trace. No such
// authorization listed (none, or the lock has not taken it yet):
// ErrNotFound.
func (s *Sim) Accept(smartlockID, accountUserID int64) error {
	s.acquire()
	defer s.release()
	a, err := s.state.appAuth(smartlockID, accountUserID)
	if err != nil {
		return err
	}
	a.redeemed = true
	return nil
}

// SetNeedsSubscription marks a lock as lacking the subscription the Advanced
// API needs: advanced requests then list it in their answer's "error" and
// skip it. Unknown lock: ErrNotFound.
func (s *Sim) SetNeedsSubscription(smartlockID int64, needs bool) error {
	s.acquire()
	defer s.release()
	l := s.state.locks[smartlockID]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", smartlockID, bridge.ErrNotFound)
	}
	l.unsubscribed = needs
	return nil
}

// InjectFault adds a fault after those already active.
func (s *Sim) InjectFault(f Fault) {
	s.acquire()
	defer s.release()
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.faults = append(s.faults, &activeFault{Fault: f, left: left})
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.acquire()
	defer s.release()
	s.faults = nil
}

// Emails returns a copy of the invitation emails Nuki would have sent, oldest
// first: one per standard app authorization create, sent when the lock took
// it.
func (s *Sim) Emails() []Email {
	s.acquire()
	defer s.release()
	return slices.Clone(s.emails)
}

// Webhooks returns a copy of the webhook delivery attempts made, oldest
// first. Deliveries run in the background: one caused by Settle may not be
// there yet (Close waits for those under way).
func (s *Sim) Webhooks() []Delivery {
	s.acquire()
	defer s.release()
	return slices.Clone(s.webhooks)
}

// Calls returns how many API requests (not /_sim/ ones) were received,
// including those refused by a fault or for the token.
func (s *Sim) Calls() int {
	s.acquire()
	defer s.release()
	return s.calls
}

// ResetCalls sets the request count back to zero.
func (s *Sim) ResetCalls() {
	s.acquire()
	defer s.release()
	s.calls = 0
}

// Locks returns the locks, by id.
func (s *Sim) Locks() []bridge.Lock {
	s.acquire()
	defer s.release()
	var out []bridge.Lock
	for _, l := range s.state.sortedLocks() {
		out = append(out, l.Lock)
	}
	return out
}

// Users returns the account users, by id.
func (s *Sim) Users() []bridge.User {
	s.acquire()
	defer s.release()
	out := make([]bridge.User, len(s.state.userOrder))
	for i, id := range s.state.userOrder {
		out[i] = s.state.users[id].User
	}
	return out
}

// Auths returns every authorization as the API lists it (those the locks
// have, including those being deleted), in creation order.
func (s *Sim) Auths() []bridge.Auth {
	s.acquire()
	defer s.release()
	return s.state.copyAuths(func(*bridge.Auth) bool { return true })
}

// AuthsFor returns the authorizations of one account user as the API lists
// them, in creation order.
func (s *Sim) AuthsFor(accountUserID int64) []bridge.Auth {
	s.acquire()
	defer s.release()
	return s.state.copyAuths(func(a *bridge.Auth) bool { return a.AccountUserID == accountUserID })
}

// controlMux serves the control API under /_sim/ (JSON, no token):
//
//	POST   /_sim/seed     SeedOptions → Seeded
//	POST   /_sim/accept   {"smartlockId","accountUserId"} → 204
//	POST   /_sim/use      {"smartlockId","accountUserId","action"} → LogEntry (action 0 means 1, unlock)
//	POST   /_sim/keypad   {"smartlockId","keypad"} → 204 (SetKeypad: 0 none, 1 Keypad, 2 Keypad 2)
//	POST   /_sim/enter    {"smartlockId","code"} → LogEntry (EnterCode; the code as a string)
//	POST   /_sim/sync     {"smartlockId"} → 204 (SyncLock)
//	POST   /_sim/settle   → 204 (Settle)
//	GET    /_sim/log      [LogEntry], oldest first
//	POST   /_sim/offline  {"smartlockId","offline"} → 204
//	POST   /_sim/fault    Fault, with "latency" as a duration string ("2s") → 204
//	DELETE /_sim/fault    clears every fault → 204
//	GET    /_sim/emails   [Email]
//	GET    /_sim/webhooks [Delivery]
//	GET    /_sim/calls    {"calls":n}
//
// Errors answer {"error":"…"} with 400, 404 or 409.
func (s *Sim) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/seed", func(w http.ResponseWriter, r *http.Request) {
		var o SeedOptions
		if !decodeControl(w, r, &o) {
			return
		}
		controlAnswer(w)(s.Seed(o))
	})
	mux.HandleFunc("POST /_sim/accept", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID   int64 `json:"smartlockId"`
			AccountUserID int64 `json:"accountUserId"`
		}
		if decodeControl(w, r, &b) {
			controlDone(w, s.Accept(b.SmartlockID, b.AccountUserID))
		}
	})
	mux.HandleFunc("POST /_sim/use", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID   int64 `json:"smartlockId"`
			AccountUserID int64 `json:"accountUserId"`
			Action        int   `json:"action"`
		}
		if !decodeControl(w, r, &b) {
			return
		}
		controlAnswer(w)(s.Use(b.SmartlockID, b.AccountUserID, cmp.Or(b.Action, bridge.ActionUnlock)))
	})
	mux.HandleFunc("POST /_sim/keypad", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID int64  `json:"smartlockId"`
			Keypad      Keypad `json:"keypad"`
		}
		if decodeControl(w, r, &b) {
			controlDone(w, s.SetKeypad(b.SmartlockID, b.Keypad))
		}
	})
	mux.HandleFunc("POST /_sim/enter", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID int64  `json:"smartlockId"`
			Code        string `json:"code"`
		}
		if !decodeControl(w, r, &b) {
			return
		}
		controlAnswer(w)(s.EnterCode(b.SmartlockID, b.Code))
	})
	mux.HandleFunc("POST /_sim/sync", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID int64 `json:"smartlockId"`
		}
		if decodeControl(w, r, &b) {
			controlDone(w, s.SyncLock(b.SmartlockID))
		}
	})
	mux.HandleFunc("POST /_sim/settle", func(w http.ResponseWriter, r *http.Request) {
		s.Settle()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/log", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Log())
	})
	mux.HandleFunc("POST /_sim/offline", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SmartlockID int64 `json:"smartlockId"`
			Offline     bool  `json:"offline"`
		}
		if decodeControl(w, r, &b) {
			controlDone(w, s.SetOffline(b.SmartlockID, b.Offline))
		}
	})
	mux.HandleFunc("POST /_sim/fault", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Fault
			Latency string `json:"latency"`
		}
		if !decodeControl(w, r, &b) {
			return
		}
		if b.Latency != "" {
			d, err := time.ParseDuration(b.Latency)
			if err != nil {
				controlError(w, fmt.Errorf("latency: %w", bridge.ErrInvalid))
				return
			}
			b.Fault.Latency = d
		}
		s.InjectFault(b.Fault)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /_sim/fault", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/emails", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.Emails()))
	})
	mux.HandleFunc("GET /_sim/webhooks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.Webhooks()))
	})
	mux.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"calls": s.Calls()})
	})
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such control endpoint"})
	})
	return mux
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not valid JSON for this call"})
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, bridge.ErrConflict):
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// controlAnswer answers with v as JSON, or the error: controlAnswer(w)(f()).
func controlAnswer(w http.ResponseWriter) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			controlError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func controlDone(w http.ResponseWriter, err error) {
	if err != nil {
		controlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
