package nukisim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// route is one API operation the simulator serves; Pattern uses the spec's
// parameter names, so Method and Pattern name the spec's operation.
type route struct {
	Method  string
	Pattern string
	handler http.HandlerFunc
}

func (s *Sim) routes() []route {
	return []route{
		{"GET", "/smartlock", s.getLocks},
		{"GET", "/smartlock/auth", s.getAuths},
		{"PUT", "/smartlock/auth", s.putAuths},
		{"DELETE", "/smartlock/auth", s.deleteAuths},
		{"PUT", "/smartlock/auth/advanced", s.putAdvanced},
		{"GET", "/smartlock/log", s.getLog},
		{"GET", "/smartlock/{smartlockId}/auth", s.getLockAuths},
		{"PUT", "/smartlock/{smartlockId}/auth", s.putLockAuth},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", s.getAuth},
		{"POST", "/smartlock/{smartlockId}/auth/{id}", s.postAuth},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", s.deleteAuth},
		{"GET", "/smartlock/{smartlockId}/log", s.getLockLog},
		{"POST", "/smartlock/{smartlockId}/sync", s.postSync},
		{"GET", "/account/user", s.getUsers},
		{"PUT", "/account/user", s.putUser},
		{"GET", "/account/user/{accountUserId}", s.getUser},
		{"POST", "/account/user/{accountUserId}", s.postUser},
		{"DELETE", "/account/user/{accountUserId}", s.deleteUser},
	}
}

const maxRequestBody = 1 << 20

// errForbidden is the state error of a per-lock endpoint called with a lock
// the account does not have; Nuki answers 403.
var errForbidden = errors.New("the smartlock is not one of the account's")

// decodeBody reads a JSON request body into v, answering 400 on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Bad parameter: the body is not valid JSON for this call")
		return false
	}
	return true
}

// pathID reads an integer path parameter, answering 404 when it is not one
// (no such resource).
func pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "no resource with "+name+" "+strconv.Quote(r.PathValue(name)))
		return 0, false
	}
	return id, true
}

// lockParam returns the lock named by the smartlockId path parameter, or
// errForbidden when the account has none by that id. The caller holds s.mu.
func (s *Sim) lockParam(r *http.Request) (*lockState, error) {
	raw := r.PathValue("smartlockId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if l := s.state.locks[id]; err == nil && l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("smartlock %s: %w", strconv.Quote(raw), errForbidden)
}

// authParam returns the authorization named by the id path parameter on l,
// or ErrNotFound. The caller holds s.mu.
func (s *Sim) authParam(r *http.Request, l *lockState) (*authState, error) {
	a := s.state.auths[r.PathValue("id")]
	if a == nil || a.SmartlockID != l.ID {
		return nil, fmt.Errorf("smartlock authorization not found: %w", bridge.ErrNotFound)
	}
	return a, nil
}

// busy is ErrBusy when an operation is running on a, which refuses another
// write (423).
func busy(a *authState) error {
	if a.OperationID == "" {
		return nil
	}
	return fmt.Errorf("authorization %s is locked by the running operation %s: %w", a.ID, a.OperationID,
		bridge.ErrBusy)
}

// writeStateError answers an error of the state methods.
func writeStateError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errors.Is(err, bridge.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, bridge.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, bridge.ErrBusy):
		status = http.StatusLocked
	}
	writeError(w, status, err.Error())
}

// answer writes err as Nuki's error body, or 204.
func answer(w http.ResponseWriter, err error) {
	if err != nil {
		writeStateError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) getLocks(w http.ResponseWriter, r *http.Request) {
	s.acquire()
	locks := s.state.sortedLocks()
	out := make([]wireLock, len(locks))
	for i, l := range locks {
		out[i] = toWireLock(l)
	}
	s.release()
	writeJSON(w, http.StatusOK, out)
}

// parseTypes reads the "types" filter ("0,2,3"); nil means every type. The
// spec declares no 400 for the list calls, so unreadable entries are ignored.
func parseTypes(v string) []int {
	if v == "" {
		return nil
	}
	types := []int{}
	for f := range strings.SplitSeq(v, ",") {
		if t, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			types = append(types, t)
		}
	}
	return types
}

func toWireAuths(auths []bridge.Auth) []wireAuth {
	out := make([]wireAuth, len(auths))
	for i := range auths {
		out[i] = toWireAuth(&auths[i])
	}
	return out
}

func (s *Sim) getAuths(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	types := parseTypes(q.Get("types"))
	user, _ := strconv.ParseInt(q.Get("accountUserId"), 10, 64)
	s.acquire()
	auths := s.state.copyAuths(func(a *bridge.Auth) bool {
		switch {
		case types != nil && !slices.Contains(types, a.Type):
			return false
		case user > 0:
			return a.AccountUserID == user
		case user < 0:
			return a.AccountUserID == 0
		}
		return true
	})
	s.release()
	writeJSON(w, http.StatusOK, toWireAuths(auths))
}

func (s *Sim) getLockAuths(w http.ResponseWriter, r *http.Request) {
	types := parseTypes(r.URL.Query().Get("types"))
	s.acquire()
	l, err := s.lockParam(r)
	var auths []bridge.Auth
	if err == nil {
		auths = s.state.copyAuths(func(a *bridge.Auth) bool {
			return a.SmartlockID == l.ID && (types == nil || slices.Contains(types, a.Type))
		})
	}
	s.release()
	if err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toWireAuths(auths))
}

func (s *Sim) getAuth(w http.ResponseWriter, r *http.Request) {
	s.acquire()
	var out wireAuth
	l, err := s.lockParam(r)
	if err == nil {
		var a *authState
		if a, err = s.authParam(r, l); err == nil {
			out = toWireAuth(&a.Auth)
		}
	}
	s.release()
	if err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// grant is a validated create request.
type grant struct {
	name          string
	accountUserID int64
	remoteAllowed bool
	typ           int
	code          string // keypad code (type 13) only
	access        bridge.Access
}

// validateCreate checks a create body as Nuki does and returns the grant, or
// a description of what is wrong (answered with 400).
func validateCreate(b wireAuthCreate, advanced bool) (grant, string) {
	var g grant
	switch {
	case b.Name == nil || strings.TrimSpace(*b.Name) == "":
		return g, "name is required"
	case len([]rune(*b.Name)) > maxNameLen:
		return g, fmt.Sprintf("name is longer than %d characters", maxNameLen)
	case b.RemoteAllowed == nil:
		return g, "remoteAllowed is required"
	}
	g.name, g.remoteAllowed = *b.Name, *b.RemoteAllowed
	if b.Type != nil {
		if advanced {
			return g, "type is not allowed: the Advanced API creates app authorizations only"
		}
		g.typ = *b.Type
	}
	switch g.typ {
	case 0, 2:
		if b.AccountUserID == nil || *b.AccountUserID <= 0 {
			return g, "accountUserId is required"
		}
		if b.Code != nil {
			return g, "code is only allowed for type 13 (keypad)"
		}
		g.accountUserID = *b.AccountUserID
	case bridge.AuthTypeKeypadCode:
		if b.Code == nil {
			return g, "code is required for type 13 (keypad)"
		}
		if b.AccountUserID != nil && *b.AccountUserID > 0 {
			return g, "accountUserId is not allowed for type 13 (keypad)"
		}
		g.code = strconv.Itoa(*b.Code)
		if bad := badKeypadCode(g.code); bad != "" {
			return g, bad
		}
	default:
		return g, fmt.Sprintf("type %d cannot be created", g.typ)
	}
	var err error
	if g.access.From, err = parseDate(b.AllowedFromDate); err != nil {
		return g, "allowedFromDate: " + err.Error()
	}
	if g.access.Until, err = parseDate(b.AllowedUntilDate); err != nil {
		return g, "allowedUntilDate: " + err.Error()
	}
	for _, v := range []struct {
		name string
		p    *int
		max  int
		out  *int
	}{
		{"allowedWeekDays", b.AllowedWeekDays, 127, &g.access.WeekDays},
		{"allowedFromTime", b.AllowedFromTime, 1439, &g.access.FromTime},
		{"allowedUntilTime", b.AllowedUntilTime, 1439, &g.access.UntilTime},
	} {
		if v.p == nil {
			continue
		}
		if *v.p < 0 || *v.p > v.max {
			return g, fmt.Sprintf("%s must be between 0 and %d", v.name, v.max)
		}
		*v.out = *v.p
	}
	return g, ""
}

// newAuth is the authorization g asks for on lock, as Nuki Web records it
// when the request is made: its id and creationDate, no authId yet.
func (st *state) newAuth(lock int64, g grant, now time.Time) *authState {
	return &authState{Auth: bridge.Auth{ID: st.objectID(now), SmartlockID: lock, AccountUserID: g.accountUserID,
		Type: g.typ, Name: g.name, Enabled: true, RemoteAllowed: g.remoteAllowed, Access: g.access,
		CreationDate: now, Code: bridge.Secret(g.code)}}
}

// createAuths accepts a standard create on locks, all or nothing: each lock
// lists the authorization, and Nuki emails the invite of an app
// authorization, once the lock has taken it. A keypad code also needs a
// keypad paired with every lock and a code none of them has. The caller
// holds s.mu.
func (s *Sim) createAuths(locks []int64, g grant) error {
	for _, id := range locks {
		err := s.state.checkAuth(id, g.accountUserID, g.typ)
		if err == nil && g.typ == bridge.AuthTypeKeypadCode {
			err = s.state.checkKeypadCode(id, g.code)
		}
		if err != nil {
			if errors.Is(err, bridge.ErrNotFound) {
				return fmt.Errorf("%v: %w", err, bridge.ErrInvalid) // ids in a body are bad parameters
			}
			return err
		}
	}
	now := s.now()
	for _, id := range locks {
		s.enqueue(&operation{kind: opCreate, lock: id, invite: true, auth: s.state.newAuth(id, g, now)})
	}
	return nil
}

func (s *Sim) putLockAuth(w http.ResponseWriter, r *http.Request) {
	var b wireAuthCreate
	if !decodeBody(w, r, &b) {
		return
	}
	g, bad := validateCreate(b, false)
	if bad != "" {
		writeError(w, http.StatusBadRequest, "Bad parameter: "+bad)
		return
	}
	s.acquire()
	l, err := s.lockParam(r)
	if err == nil {
		err = s.createAuths([]int64{l.ID}, g)
	}
	s.release()
	answer(w, err)
}

// decodeMultiCreate reads the body of a create on several locks; on a bad
// body it answers 400 and returns false. The locks come sorted, once each.
func decodeMultiCreate(w http.ResponseWriter, r *http.Request, advanced bool) (grant, []int64, bool) {
	var b wireAuthCreate
	if !decodeBody(w, r, &b) {
		return grant{}, nil, false
	}
	g, bad := validateCreate(b, advanced)
	if bad == "" && len(b.SmartlockIDs) == 0 {
		bad = "smartlockIds is required"
	}
	if bad != "" {
		writeError(w, http.StatusBadRequest, "Bad parameter: "+bad)
		return grant{}, nil, false
	}
	return g, slices.Compact(slices.Sorted(slices.Values(b.SmartlockIDs))), true
}

func (s *Sim) putAuths(w http.ResponseWriter, r *http.Request) {
	g, locks, ok := decodeMultiCreate(w, r, false)
	if !ok {
		return
	}
	s.acquire()
	err := s.createAuths(locks, g)
	s.release()
	answer(w, err)
}

// putAdvanced accepts an Advanced API create: each subscribed lock takes
// the authorization after the lock delay (if offline then: errorCode "ff";
// if full: "0x13"), and once all have answered the outcome is posted as an
// AuthCreation webhook. Nuki emails nothing.
func (s *Sim) putAdvanced(w http.ResponseWriter, r *http.Request) {
	g, locks, ok := decodeMultiCreate(w, r, true)
	if !ok {
		return
	}
	s.acquire()
	st := &s.state
	var subscribed []int64
	var unsubscribed []string
	var err error
	for _, id := range locks {
		if err = st.checkAuth(id, g.accountUserID, bridge.AuthTypeApp); err != nil {
			if errors.Is(err, bridge.ErrConflict) && !st.pairTaken(g.accountUserID, id) {
				err = nil // a full lock is reported in the webhook as 0x13, as Nuki does
			} else {
				break
			}
		}
		if st.locks[id].unsubscribed {
			unsubscribed = append(unsubscribed, strconv.FormatInt(id, 10))
			continue
		}
		subscribed = append(subscribed, id)
	}
	req := &advancedRequest{id: requestID()}
	if err == nil && len(subscribed) > 0 {
		req.detail, req.left = make([]wireAuthDetail, len(subscribed)), len(subscribed)
		now := s.now()
		for i, id := range subscribed {
			s.enqueue(&operation{kind: opCreate, lock: id, advanced: req, slot: i, auth: st.newAuth(id, g, now)})
		}
	}
	s.release()
	if err != nil {
		if errors.Is(err, bridge.ErrNotFound) {
			writeError(w, http.StatusBadRequest, "Bad parameter: "+err.Error())
			return
		}
		writeStateError(w, err)
		return
	}
	out := wireAdvancedAnswer{RequestID: req.id}
	if len(unsubscribed) > 0 {
		out.Error = "Smartlocks need a subscription for the Advanced API: " + strings.Join(unsubscribed, ",")
	}
	writeJSON(w, http.StatusOK, out)
}

// postAuth accepts an update; the lock carries it out later, and meanwhile
// the authorization shows the old values and an operationId.
func (s *Sim) postAuth(w http.ResponseWriter, r *http.Request) {
	var b wireAuthCreate
	if !decodeBody(w, r, &b) {
		return
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" || len([]rune(*b.Name)) > maxNameLen {
		writeError(w, http.StatusBadRequest, "Bad parameter: name is required, at most 32 characters")
		return
	}
	from, err1 := parseDate(b.AllowedFromDate)
	until, err2 := parseDate(b.AllowedUntilDate)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, "Bad parameter: "+err.Error())
		return
	}
	code := ""
	if b.Code != nil {
		code = strconv.Itoa(*b.Code)
		if bad := badKeypadCode(code); bad != "" {
			writeError(w, http.StatusBadRequest, "Bad parameter: "+bad)
			return
		}
	}
	change := func(a *bridge.Auth) {
		a.Name = *b.Name
		if code != "" {
			a.Code = bridge.Secret(code)
		}
		if b.Enabled != nil {
			a.Enabled = *b.Enabled
		}
		if b.RemoteAllowed != nil {
			a.RemoteAllowed = *b.RemoteAllowed
		}
		if b.AllowedFromDate != nil {
			a.Access.From = from
		}
		if b.AllowedUntilDate != nil {
			a.Access.Until = until
		}
		if b.AllowedWeekDays != nil {
			a.Access.WeekDays = *b.AllowedWeekDays
		}
		if b.AllowedFromTime != nil {
			a.Access.FromTime = *b.AllowedFromTime
		}
		if b.AllowedUntilTime != nil {
			a.Access.UntilTime = *b.AllowedUntilTime
		}
	}
	s.acquire()
	err := s.write(r, func(a *authState) (*operation, error) {
		if code != "" {
			if a.Type != bridge.AuthTypeKeypadCode {
				return nil, fmt.Errorf("code is only allowed for type 13 (keypad): %w", bridge.ErrInvalid)
			}
			if code != a.Code.Reveal() && s.state.codeTaken(a.SmartlockID, code, a.ID) {
				return nil, fmt.Errorf("the keypad code %s is already used on smartlock %d: %w", code, a.SmartlockID,
					bridge.ErrConflict)
			}
		}
		return &operation{kind: opModify, lock: a.SmartlockID, auth: a, change: change, code: code}, nil
	})
	s.release()
	answer(w, err)
}

// write hands the operation made for the authorization in r's path to its
// lock: 403 for a lock that is not the account's, 404 for an unknown
// authorization, 423 while another operation runs on it, or the error op
// returns. The caller holds s.mu.
func (s *Sim) write(r *http.Request, op func(*authState) (*operation, error)) error {
	l, err := s.lockParam(r)
	if err != nil {
		return err
	}
	a, err := s.authParam(r, l)
	if err != nil {
		return err
	}
	if err := busy(a); err != nil {
		return err
	}
	o, err := op(a)
	if err != nil {
		return err
	}
	s.enqueue(o)
	return nil
}

// deleteAuth accepts a delete; the authorization stays listed, with an
// operationId, until the lock has carried it out.
func (s *Sim) deleteAuth(w http.ResponseWriter, r *http.Request) {
	s.acquire()
	err := s.write(r, func(a *authState) (*operation, error) {
		return &operation{kind: opDelete, lock: a.SmartlockID, auth: a}, nil
	})
	s.release()
	answer(w, err)
}

// deleteAuths accepts a delete of several authorizations, all or nothing:
// 423 when an operation runs on one of them. Unknown ids are ignored.
func (s *Sim) deleteAuths(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if !decodeBody(w, r, &ids) {
		return
	}
	if len(ids) == 0 {
		writeError(w, http.StatusBadRequest, "Bad parameter: no authorization ids")
		return
	}
	s.acquire()
	err := s.deleteAll(ids)
	s.release()
	answer(w, err)
}

// deleteAll hands the delete of every listed authorization among ids to its
// lock, unless one of them is busy. The caller holds s.mu.
func (s *Sim) deleteAll(ids []string) error {
	var auths []*authState
	for _, id := range ids {
		if a := s.state.auths[id]; a != nil && !slices.Contains(auths, a) {
			if err := busy(a); err != nil {
				return err
			}
			auths = append(auths, a)
		}
	}
	for _, a := range auths {
		s.enqueue(&operation{kind: opDelete, lock: a.SmartlockID, auth: a})
	}
	return nil
}

// postSync asks the lock to sync (see SyncLock).
func (s *Sim) postSync(w http.ResponseWriter, r *http.Request) {
	s.acquire()
	l, err := s.lockParam(r)
	if err == nil {
		s.enqueue(&operation{kind: opSync, lock: l.ID})
	}
	s.release()
	answer(w, err)
}

func (s *Sim) getUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit := 0, -1
	if !s.opts.IgnoreUserPaging {
		for _, p := range []struct {
			name string
			out  *int
		}{{"offset", &offset}, {"limit", &limit}} {
			// The spec declares no 400 here: unreadable values are ignored.
			if n, err := strconv.Atoi(q.Get(p.name)); err == nil && n >= 0 {
				*p.out = n
			}
		}
	}
	email := strings.ToLower(strings.TrimSpace(q.Get("email")))
	s.acquire()
	out := []wireUser{}
	if email != "" {
		if id, ok := s.state.byEmail[email]; ok {
			out = append(out, toWireUser(s.state.users[id]))
		}
	} else {
		ids := s.state.userOrder[min(offset, len(s.state.userOrder)):]
		if limit >= 0 && limit < len(ids) {
			ids = ids[:limit]
		}
		for _, id := range ids {
			out = append(out, toWireUser(s.state.users[id]))
		}
	}
	s.release()
	writeJSON(w, http.StatusOK, out)
}

var languages = []string{"en", "de", "es", "fr", "it", "nl", "cs", "sk"}

// validateUser checks an AccountUserCreate (create) or AccountUserUpdate
// body and returns what is wrong, or "".
func validateUser(b wireUserCreate, create bool) string {
	if create && (b.Email == nil || b.Name == nil) {
		return "email and name are required"
	}
	if b.Email != nil {
		if a, err := mail.ParseAddress(*b.Email); err != nil || a.Address != *b.Email {
			return "invalid email address"
		}
	}
	if b.Name != nil && strings.TrimSpace(*b.Name) == "" {
		return "invalid name"
	}
	if b.Language != nil && !slices.Contains(languages, *b.Language) {
		return "language must be one of " + strings.Join(languages, ", ")
	}
	return ""
}

// putUser creates an account user; an email the account has already
// answers 400, the only refusal the spec declares for this call.
func (s *Sim) putUser(w http.ResponseWriter, r *http.Request) {
	var b wireUserCreate
	if !decodeBody(w, r, &b) {
		return
	}
	if bad := validateUser(b, true); bad != "" {
		writeError(w, http.StatusBadRequest, "Invalid E-Mail address or name supplied: "+bad)
		return
	}
	u := bridge.User{Email: *b.Email, Name: *b.Name}
	if b.Language != nil {
		u.Language = *b.Language
	}
	s.acquire()
	u, err := s.state.addUser(u, s.now())
	var out wireUser
	if err == nil {
		out = toWireUser(s.state.users[u.ID])
	}
	s.release()
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid E-Mail address or name supplied: E-Mail address already exists")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountUserId")
	if !ok {
		return
	}
	s.acquire()
	u := s.state.users[id]
	var out wireUser
	if u != nil {
		out = toWireUser(u)
	}
	s.release()
	if u == nil {
		writeError(w, http.StatusNotFound, "account user not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) postUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountUserId")
	if !ok {
		return
	}
	var b wireUserCreate
	if !decodeBody(w, r, &b) {
		return
	}
	if bad := validateUser(b, false); bad != "" {
		writeError(w, http.StatusBadRequest, "Invalid E-Mail address or name supplied: "+bad)
		return
	}
	s.acquire()
	out, err := s.updateUser(id, b)
	s.release()
	if err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// updateUser applies an AccountUserUpdate. The caller holds s.mu.
func (s *Sim) updateUser(id int64, b wireUserCreate) (wireUser, error) {
	st := &s.state
	u := st.users[id]
	if u == nil {
		return wireUser{}, fmt.Errorf("account user not found: %w", bridge.ErrNotFound)
	}
	if b.Email != nil && !strings.EqualFold(*b.Email, u.Email) {
		key := strings.ToLower(*b.Email)
		if _, taken := st.byEmail[key]; taken {
			return wireUser{}, fmt.Errorf("E-Mail address already exists: %w", bridge.ErrConflict)
		}
		delete(st.byEmail, strings.ToLower(u.Email))
		st.byEmail[key] = id
		u.Email = *b.Email
	}
	if b.Name != nil {
		u.Name = *b.Name
	}
	if b.Language != nil {
		u.Language = *b.Language
	}
	u.updated = s.now()
	return toWireUser(u), nil
}

// deleteUser removes an account user at once and hands the delete of their
// authorizations to the locks; 423 while an operation runs on one of them.
func (s *Sim) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountUserId")
	if !ok {
		return
	}
	s.acquire()
	err := s.removeUser(id)
	s.release()
	answer(w, err)
}

// removeUser is deleteUser's work. The caller holds s.mu.
func (s *Sim) removeUser(id int64) error {
	st := &s.state
	if st.users[id] == nil {
		return fmt.Errorf("account user not found: %w", bridge.ErrNotFound)
	}
	var ids []string
	for _, authID := range st.authOrder {
		if st.auths[authID].AccountUserID == id {
			ids = append(ids, authID)
		}
	}
	if err := s.deleteAll(ids); err != nil {
		return err
	}
	st.removeUser(id)
	return nil
}
