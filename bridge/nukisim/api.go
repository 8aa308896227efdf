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
		{"GET", "/smartlock/{smartlockId}/auth", s.getLockAuths},
		{"PUT", "/smartlock/{smartlockId}/auth", s.putLockAuth},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", s.getAuth},
		{"POST", "/smartlock/{smartlockId}/auth/{id}", s.postAuth},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", s.deleteAuth},
		{"GET", "/account/user", s.getUsers},
		{"PUT", "/account/user", s.putUser},
		{"GET", "/account/user/{accountUserId}", s.getUser},
		{"POST", "/account/user/{accountUserId}", s.postUser},
		{"DELETE", "/account/user/{accountUserId}", s.deleteUser},
	}
}

const maxRequestBody = 1 << 20

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

// writeStateError answers an error of the state methods.
func writeStateError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, bridge.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

func (s *Sim) getLocks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	locks := s.state.sortedLocks()
	out := make([]wireLock, len(locks))
	for i, l := range locks {
		out[i] = toWireLock(l)
	}
	s.mu.Unlock()
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

func (s *Sim) writeAuths(w http.ResponseWriter, keep func(*bridge.Auth) bool) {
	s.mu.Lock()
	auths := s.state.copyAuths(keep)
	s.mu.Unlock()
	out := make([]wireAuth, len(auths))
	for i := range auths {
		out[i] = toWireAuth(&auths[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getAuths(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	types := parseTypes(q.Get("types"))
	user, _ := strconv.ParseInt(q.Get("accountUserId"), 10, 64)
	s.writeAuths(w, func(a *bridge.Auth) bool {
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
}

func (s *Sim) getLockAuths(w http.ResponseWriter, r *http.Request) {
	lockID, ok := pathID(w, r, "smartlockId")
	if !ok {
		return
	}
	types := parseTypes(r.URL.Query().Get("types"))
	s.mu.Lock()
	known := s.state.locks[lockID] != nil
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("smartlock %d not found", lockID))
		return
	}
	s.writeAuths(w, func(a *bridge.Auth) bool {
		return a.SmartlockID == lockID && (types == nil || slices.Contains(types, a.Type))
	})
}

func (s *Sim) getAuth(w http.ResponseWriter, r *http.Request) {
	lockID, ok := pathID(w, r, "smartlockId")
	if !ok {
		return
	}
	s.mu.Lock()
	a, found := s.state.auths[r.PathValue("id")]
	var out wireAuth
	if found && a.SmartlockID == lockID {
		out = toWireAuth(a)
	}
	s.mu.Unlock()
	if out.ID == "" {
		writeError(w, http.StatusNotFound, "smartlock authorization not found")
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
	case 13:
		if b.Code == nil {
			return g, "code is required for a keypad code"
		}
	default:
		return g, fmt.Sprintf("type %d cannot be created", g.typ)
	}
	if b.AccountUserID != nil {
		g.accountUserID = *b.AccountUserID
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

// createAuths carries out a standard create on locks, all or nothing. The
// caller holds s.mu.
func (s *Sim) createAuths(locks []int64, g grant) error {
	for _, id := range locks {
		if err := s.state.checkAuth(id, g.accountUserID, g.typ); err != nil {
			if errors.Is(err, bridge.ErrNotFound) {
				return fmt.Errorf("%v: %w", err, bridge.ErrInvalid) // ids in a body are bad parameters
			}
			return err
		}
		if s.state.locks[id].offline {
			return fmt.Errorf("smartlock %d is offline: %w", id, bridge.ErrConflict)
		}
	}
	now := s.opts.Now().UTC()
	for _, id := range locks {
		a := s.state.addAuth(bridge.Auth{
			SmartlockID: id, AccountUserID: g.accountUserID, Type: g.typ, Name: g.name, Enabled: true,
			RemoteAllowed: g.remoteAllowed, Access: g.access,
		}, now)
		if g.typ == bridge.AuthTypeApp && g.accountUserID != 0 {
			s.emails = append(s.emails, Email{To: s.state.users[g.accountUserID].Email,
				AccountUserID: g.accountUserID, SmartlockID: id, AuthID: a.ID, Code: inviteCode(), At: now})
		}
	}
	return nil
}

func (s *Sim) putLockAuth(w http.ResponseWriter, r *http.Request) {
	lockID, ok := pathID(w, r, "smartlockId")
	if !ok {
		return
	}
	var b wireAuthCreate
	if !decodeBody(w, r, &b) {
		return
	}
	g, bad := validateCreate(b, false)
	if bad != "" {
		writeError(w, http.StatusBadRequest, "Bad parameter: "+bad)
		return
	}
	s.mu.Lock()
	err := fmt.Errorf("smartlock %d: %w", lockID, bridge.ErrNotFound)
	if s.state.locks[lockID] != nil {
		err = s.createAuths([]int64{lockID}, g)
	}
	s.mu.Unlock()
	if err != nil {
		writeStateError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
	s.mu.Lock()
	err := s.createAuths(locks, g)
	s.mu.Unlock()
	if err != nil {
		writeStateError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// advancedRequest is an accepted PUT /smartlock/auth/advanced waiting for
// its webhook.
type advancedRequest struct {
	id    string
	locks []int64
	g     grant
}

func (s *Sim) putAdvanced(w http.ResponseWriter, r *http.Request) {
	g, locks, ok := decodeMultiCreate(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	req := advancedRequest{id: requestID(), g: g}
	var unsubscribed []string
	var err error
	for _, id := range locks {
		if err = s.state.checkAuth(id, g.accountUserID, bridge.AuthTypeApp); err != nil {
			if errors.Is(err, bridge.ErrConflict) && s.state.lockAuths[id] >= maxAuthsPerLock {
				err = nil // reported in the webhook as 0x13, as Nuki does
			} else {
				break
			}
		}
		if s.state.locks[id].unsubscribed {
			unsubscribed = append(unsubscribed, strconv.FormatInt(id, 10))
			continue
		}
		req.locks = append(req.locks, id)
	}
	if err == nil {
		for _, id := range req.locks {
			s.state.pending[pair{g.accountUserID, id}] = true
		}
	}
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, bridge.ErrNotFound) {
			writeError(w, http.StatusBadRequest, "Bad parameter: "+err.Error())
			return
		}
		writeStateError(w, err)
		return
	}
	answer := wireAdvancedAnswer{RequestID: req.id}
	if len(unsubscribed) > 0 {
		answer.Error = "Smartlocks need a subscription for the Advanced API: " + strings.Join(unsubscribed, ",")
	}
	if len(req.locks) > 0 {
		s.deliverLater(req)
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Sim) postAuth(w http.ResponseWriter, r *http.Request) {
	lockID, ok := pathID(w, r, "smartlockId")
	if !ok {
		return
	}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.state.auths[r.PathValue("id")]
	if a == nil || a.SmartlockID != lockID {
		writeError(w, http.StatusNotFound, "smartlock authorization not found")
		return
	}
	a.Name = *b.Name
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
	a.UpdateDate = s.opts.Now().UTC()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) deleteAuth(w http.ResponseWriter, r *http.Request) {
	lockID, ok := pathID(w, r, "smartlockId")
	if !ok {
		return
	}
	s.mu.Lock()
	a := s.state.auths[r.PathValue("id")]
	var deleted bridge.Auth
	if a != nil && a.SmartlockID == lockID {
		deleted, _ = s.state.deleteAuth(a.ID)
	}
	s.mu.Unlock()
	if deleted.ID == "" {
		writeError(w, http.StatusNotFound, "smartlock authorization not found")
		return
	}
	s.notifyDeviceAuth(deleted, true)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) deleteAuths(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if !decodeBody(w, r, &ids) {
		return
	}
	if len(ids) == 0 {
		writeError(w, http.StatusBadRequest, "Bad parameter: no authorization ids")
		return
	}
	var deleted []bridge.Auth
	s.mu.Lock()
	for _, id := range ids {
		if a, ok := s.state.deleteAuth(id); ok {
			deleted = append(deleted, a)
		}
	}
	s.mu.Unlock()
	for _, a := range deleted {
		s.notifyDeviceAuth(a, true)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) getUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit := 0, -1
	for _, p := range []struct {
		name string
		out  *int
	}{{"offset", &offset}, {"limit", &limit}} {
		// The spec declares no 400 here: unreadable values are ignored.
		if n, err := strconv.Atoi(q.Get(p.name)); err == nil && n >= 0 {
			*p.out = n
		}
	}
	email := strings.ToLower(strings.TrimSpace(q.Get("email")))
	s.mu.Lock()
	var out []wireUser
	if email != "" {
		if id, ok := s.state.byEmail[email]; ok {
			out = append(out, toWireUser(s.state.users[id]))
		}
	} else {
		ids := s.state.userOrder[min(offset, len(s.state.userOrder)):]
		if limit >= 0 && limit < len(ids) {
			ids = ids[:limit]
		}
		out = make([]wireUser, len(ids))
		for i, id := range ids {
			out[i] = toWireUser(s.state.users[id])
		}
	}
	s.mu.Unlock()
	if out == nil {
		out = []wireUser{}
	}
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

func (s *Sim) putUser(w http.ResponseWriter, r *http.Request) {
	var b wireUserCreate
	if !decodeBody(w, r, &b) {
		return
	}
	if bad := validateUser(b, true); bad != "" {
		writeError(w, http.StatusBadRequest, "Bad parameter: "+bad)
		return
	}
	u := bridge.User{Email: *b.Email, Name: *b.Name}
	if b.Language != nil {
		u.Language = *b.Language
	}
	s.mu.Lock()
	u, err := s.state.addUser(u, s.opts.Now().UTC())
	var out wireUser
	if err == nil {
		out = toWireUser(s.state.users[u.ID])
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusConflict, "E-Mail address already exists")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountUserId")
	if !ok {
		return
	}
	s.mu.Lock()
	u := s.state.users[id]
	var out wireUser
	if u != nil {
		out = toWireUser(u)
	}
	s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.state.users[id]
	if u == nil {
		writeError(w, http.StatusNotFound, "account user not found")
		return
	}
	if b.Email != nil && !strings.EqualFold(*b.Email, u.Email) {
		key := strings.ToLower(*b.Email)
		if _, taken := s.state.byEmail[key]; taken {
			writeError(w, http.StatusConflict, "E-Mail address already exists")
			return
		}
		delete(s.state.byEmail, strings.ToLower(u.Email))
		s.state.byEmail[key] = id
		u.Email = *b.Email
	}
	if b.Name != nil {
		u.Name = *b.Name
	}
	if b.Language != nil {
		u.Language = *b.Language
	}
	u.updated = s.opts.Now().UTC()
	writeJSON(w, http.StatusOK, toWireUser(u))
}

func (s *Sim) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "accountUserId")
	if !ok {
		return
	}
	s.mu.Lock()
	known := s.state.users[id] != nil
	s.state.deleteUser(id)
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "account user not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
