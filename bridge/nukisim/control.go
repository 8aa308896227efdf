package nukisim

import (
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
	Users    int `json:"users"`
	Auths    int `json:"auths"`    // app authorizations spread over the new users and locks
	Accepted int `json:"accepted"` // how many of those are already redeemed
}

// Seeded reports what Seed added.
type Seeded struct {
	Locks []int64 `json:"locks"`
	Users []int64 `json:"users"`
	Auths int     `json:"auths"`
}

// Seed adds o.Locks locks ("Door 1", …), o.Users users
// (guest1@example.com, …) and o.Auths app authorizations, each for a
// different (user, lock) pair, spread evenly over the new locks; the first
// o.Accepted are redeemed. It sends no emails. More authorizations than pairs,
// or per lock than Nuki allows, fail with ErrInvalid and add nothing.
func (s *Sim) Seed(o SeedOptions) (Seeded, error) {
	if o.Locks < 0 || o.Users < 0 || o.Auths < 0 || o.Accepted > o.Auths ||
		(o.Auths > 0 && (o.Auths > o.Locks*o.Users || (o.Auths+o.Locks-1)/max(o.Locks, 1) > maxAuthsPerLock)) {
		return Seeded{}, fmt.Errorf("seed %+v: %w", o, bridge.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now().UTC()
	var out Seeded
	first := len(s.state.locks)
	for i := range o.Locks {
		l := s.state.addLock(bridge.Lock{Name: fmt.Sprintf("Door %d", first+i+1), Type: 4}, now)
		out.Locks = append(out.Locks, l.ID)
	}
	firstUser := len(s.state.users)
	for i := 0; len(out.Users) < o.Users; i++ {
		n := firstUser + i + 1
		u, err := s.state.addUser(bridge.User{Email: fmt.Sprintf("guest%d@example.com", n),
			Name: fmt.Sprintf("Guest %d", n), Language: "en"}, now)
		if err != nil {
			continue // that email exists already
		}
		out.Users = append(out.Users, u.ID)
	}
	for k := range o.Auths {
		r, q := k%o.Users, k/o.Users
		userID, lockID := out.Users[r], out.Locks[(r+q)%o.Locks]
		s.state.addAuth(bridge.Auth{SmartlockID: lockID, AccountUserID: userID, Type: bridge.AuthTypeApp,
			Name: fmt.Sprintf("Guest %d", r+1), Enabled: true, RemoteAllowed: true}, now)
		if k < o.Accepted {
			_, _ = s.state.accept(lockID, userID, now)
		}
		out.Auths++
	}
	return out, nil
}

// AddLock adds a lock; ID 0 picks one. It returns the lock as stored.
func (s *Sim) AddLock(l bridge.Lock) bridge.Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.addLock(l, s.opts.Now().UTC())
}

// AddUser adds an account user; ID 0 picks one. An email or id in use fails
// with ErrConflict.
func (s *Sim) AddUser(u bridge.User) (bridge.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.addUser(u, s.opts.Now().UTC())
}

// AddAuth adds an authorization as it stands (no email, any lockCount); ID ""
// picks one and zero dates become now. An unknown lock or user fails with
// ErrNotFound, a second app authorization of a user on a lock with
// ErrConflict.
func (s *Sim) AddAuth(a bridge.Auth) (bridge.Auth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.state.checkAuth(a.SmartlockID, a.AccountUserID, a.Type); err != nil {
		return bridge.Auth{}, err
	}
	if _, taken := s.state.auths[a.ID]; a.ID != "" && taken {
		return bridge.Auth{}, fmt.Errorf("authorization %s: %w", a.ID, bridge.ErrConflict)
	}
	return s.state.addAuth(a, s.opts.Now().UTC()), nil
}

// Accept redeems the app authorization of a user on a lock as the Nuki app
// would: lockCount becomes at least 1, lastActiveDate and updateDate now, and
// authId and appId get values. No such authorization: ErrNotFound.
func (s *Sim) Accept(smartlockID, accountUserID int64) error {
	s.mu.Lock()
	a, err := s.state.accept(smartlockID, accountUserID, s.opts.Now().UTC())
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.notifyDeviceAuth(a, false)
	return nil
}

// SetOffline takes a lock off line (serverState 4; creates on it fail) or
// back. Unknown lock: ErrNotFound.
func (s *Sim) SetOffline(smartlockID int64, offline bool) error {
	return s.setLock(smartlockID, func(l *lockState) { l.offline = offline })
}

// SetNeedsSubscription marks a lock as lacking the subscription the Advanced
// API needs: advanced requests then list it in their answer's "error" and
// skip it. Unknown lock: ErrNotFound.
func (s *Sim) SetNeedsSubscription(smartlockID int64, needs bool) error {
	return s.setLock(smartlockID, func(l *lockState) { l.unsubscribed = needs })
}

func (s *Sim) setLock(id int64, change func(*lockState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.state.locks[id]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", id, bridge.ErrNotFound)
	}
	change(l)
	return nil
}

// InjectFault adds a fault after those already active.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.faults = append(s.faults, &activeFault{Fault: f, left: left})
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Emails returns a copy of the invitation emails Nuki would have sent, oldest
// first.
func (s *Sim) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.emails)
}

// Webhooks returns a copy of the webhook deliveries made, oldest first.
func (s *Sim) Webhooks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.webhooks)
}

// Calls returns how many API requests (not /_sim/ ones) were received,
// including those refused by a fault or for the token.
func (s *Sim) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ResetCalls sets the request count back to zero.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = 0
}

// Locks returns the locks, by id.
func (s *Sim) Locks() []bridge.Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bridge.Lock
	for _, l := range s.state.sortedLocks() {
		out = append(out, l.Lock)
	}
	return out
}

// Users returns the account users, by id.
func (s *Sim) Users() []bridge.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bridge.User, len(s.state.userOrder))
	for i, id := range s.state.userOrder {
		out[i] = s.state.users[id].User
	}
	return out
}

// Auths returns every authorization, in creation order.
func (s *Sim) Auths() []bridge.Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.copyAuths(func(*bridge.Auth) bool { return true })
}

// AuthsFor returns the authorizations of one account user, in creation
// order.
func (s *Sim) AuthsFor(accountUserID int64) []bridge.Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.copyAuths(func(a *bridge.Auth) bool { return a.AccountUserID == accountUserID })
}

// controlMux serves the control API under /_sim/ (JSON, no token):
//
//	POST   /_sim/seed     SeedOptions → Seeded
//	POST   /_sim/accept   {"smartlockId","accountUserId"} → 204
//	POST   /_sim/offline  {"smartlockId","offline"} → 204
//	POST   /_sim/fault    Fault, with "latency" as a duration string ("2s") → 204
//	DELETE /_sim/fault    clears every fault → 204
//	GET    /_sim/emails   [Email]
//	GET    /_sim/webhooks [Delivery]
//	GET    /_sim/calls    {"calls":n}
//
// Errors answer {"error":"…"} with 400 or 404.
func (s *Sim) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_sim/seed", func(w http.ResponseWriter, r *http.Request) {
		var o SeedOptions
		if !decodeControl(w, r, &o) {
			return
		}
		out, err := s.Seed(o)
		if err != nil {
			controlError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
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
	if errors.Is(err, bridge.ErrNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func controlDone(w http.ResponseWriter, err error) {
	if err != nil {
		controlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
