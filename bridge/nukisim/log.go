package nukisim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Paging of the activity log as the spec states it.
const (
	defaultLogLimit = 20
	maxLogLimit     = 50
)

// logEntry is one entry of the activity log.
type logEntry struct {
	bridge.LogEntry
	deviceType int // SmartlockLog's: 0 smartlock or box, 2 opener, 3 smart door
}

// deviceType maps a Smartlock type to the SmartlockLog device type.
func deviceType(lockType int) int {
	switch lockType {
	case 2, 3: // opener, smart door
		return lockType
	}
	return 0
}

// Use records that the guest with the app authorization of accountUserID
// on smartlockID operated the lock with the Nuki app, and returns the
// activity log entry, which GET /smartlock/log lists at once: trigger 5
// (app), source 0, state 0 (success), the given action (1 unlock, 2 lock,
// 3 unlatch, …), authId the authorization's string id, dated now. Using an
// authorization redeems it. Its lockCount and lastActiveDate catch up only
// when the lock next syncs (SyncLock, POST /smartlock/{smartlockId}/sync, or
// every LockSyncInterval; at once with Instant). No such authorization:
// ErrNotFound; an action outside 1…255: ErrInvalid; a disabled
// authorization: ErrConflict (the lock refuses it and records nothing).
func (s *Sim) Use(smartlockID, accountUserID int64, action int) (bridge.LogEntry, error) {
	if action < 1 || action > 255 {
		return bridge.LogEntry{}, fmt.Errorf("action %d: %w", action, bridge.ErrInvalid)
	}
	s.acquire()
	defer s.release()
	st := &s.state
	a, err := st.appAuth(smartlockID, accountUserID)
	if err != nil {
		return bridge.LogEntry{}, err
	}
	if !a.Enabled {
		return bridge.LogEntry{}, fmt.Errorf("authorization %s is disabled: %w", a.ID, bridge.ErrConflict)
	}
	now := s.now()
	a.redeemed = true
	a.unsynced++
	a.lastUse = now
	st.unsynced[a.ID] = true
	e := bridge.LogEntry{ID: st.objectID(now), SmartlockID: smartlockID, AccountUserID: accountUserID,
		AuthID: a.ID, Name: a.Name, Action: action, Trigger: bridge.TriggerApp, Date: now}
	st.log = append(st.log, logEntry{LogEntry: e, deviceType: deviceType(st.locks[smartlockID].Type)})
	if s.opts.Instant {
		s.syncLock(smartlockID)
	}
	return e, nil
}

// Log returns a copy of the activity log of every lock, oldest first.
func (s *Sim) Log() []bridge.LogEntry {
	s.acquire()
	defer s.release()
	out := make([]bridge.LogEntry, len(s.state.log))
	for i, e := range s.state.log {
		out[i] = e.LogEntry
	}
	return out
}

// logQuery is the filter of GET /smartlock/log and
// /smartlock/{smartlockId}/log. Values the simulator cannot read are
// ignored, as the spec declares no 400 for these calls.
type logQuery struct {
	lock, user int64
	authID     string
	from, to   time.Time // inclusive
	action     int
	olderThan  string // the id of an entry
	limit      int
}

func parseLogQuery(r *http.Request) logQuery {
	v := r.URL.Query()
	q := logQuery{authID: v.Get("authId"), olderThan: v.Get("id"), limit: defaultLogLimit}
	q.user, _ = strconv.ParseInt(v.Get("accountUserId"), 10, 64)
	q.action, _ = strconv.Atoi(v.Get("action"))
	q.from, _ = time.Parse(time.RFC3339Nano, v.Get("fromDate"))
	q.to, _ = time.Parse(time.RFC3339Nano, v.Get("toDate"))
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && n > 0 {
		q.limit = min(n, maxLogLimit)
	}
	return q
}

// match reports whether e passes every filter but the paging ones.
func (q logQuery) match(e *logEntry) bool {
	return (q.lock == 0 || e.SmartlockID == q.lock) && (q.user == 0 || e.AccountUserID == q.user) &&
		(q.authID == "" || e.AuthID == q.authID) && (q.action == 0 || e.Action == q.action) &&
		(q.from.IsZero() || !e.Date.Before(q.from)) && (q.to.IsZero() || !e.Date.After(q.to))
}

// findLog returns the entries q selects, newest first: with an id, only those
// older than that entry (none when no entry has that id). The caller holds
// s.mu.
func (st *state) findLog(q logQuery) []wireLog {
	end := len(st.log)
	if q.olderThan != "" {
		end = slices.IndexFunc(st.log, func(e logEntry) bool { return e.ID == q.olderThan })
	}
	out := []wireLog{}
	for i := end - 1; i >= 0 && len(out) < q.limit; i-- {
		if e := &st.log[i]; q.match(e) {
			out = append(out, toWireLog(e))
		}
	}
	return out
}

func (s *Sim) getLog(w http.ResponseWriter, r *http.Request) {
	q := parseLogQuery(r)
	s.acquire()
	out := s.state.findLog(q)
	s.release()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getLockLog(w http.ResponseWriter, r *http.Request) {
	q := parseLogQuery(r)
	s.acquire()
	l, err := s.lockParam(r)
	var out []wireLog
	if err == nil {
		q.lock = l.ID
		out = s.state.findLog(q)
	}
	s.release()
	if err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
