package nukisim

import (
	"fmt"
	"slices"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Defaults of the lock model.
const (
	defaultLockDelay        = 2 * time.Second
	defaultLockSyncInterval = 24 * time.Hour
	// settleEvery is how often, in real time, a served simulator catches up
	// on its own.
	settleEvery = 200 * time.Millisecond
)

// opKind is what a pending operation asks of its lock.
type opKind int

const (
	opCreate opKind = iota
	opModify
	opDelete
	opSync
)

// operation is a write Nuki Web has accepted and its lock has not carried
// out yet, or a sync Nuki Web asked the lock for.
type operation struct {
	id   string // modify, delete: the operationId the authorization carries meanwhile
	kind opKind
	lock int64
	due  time.Time // when the lock carries it out; zero while the lock is offline
	// create: the authorization to list (id and creationDate set, authId
	// not); modify, delete: the listed one.
	auth     *authState
	change   func(*bridge.Auth) // modify
	code     string             // modify: the keypad code it sets, "" when it keeps the code
	invite   bool               // create: Nuki emails an invite code once the lock has it
	advanced *advancedRequest   // create through the Advanced API
	slot     int                // advanced: this lock's place in the outcome
}

// advancedRequest is an accepted PUT /smartlock/auth/advanced whose locks
// have not all answered.
type advancedRequest struct {
	id     string
	detail []wireAuthDetail
	left   int
}

func (s *Sim) now() time.Time { return s.opts.Now().UTC() }

// lockDelay is how long an online lock takes to carry out an operation.
func (s *Sim) lockDelay() time.Duration {
	if s.opts.Instant {
		return 0
	}
	return s.opts.LockDelay
}

// enqueue hands op to its lock: it is due after the lock delay while the
// lock is online; an Advanced API create is due then in any case, and fails
// if the lock is offline by then. The caller holds s.mu.
func (s *Sim) enqueue(op *operation) {
	st := &s.state
	now := s.now()
	if op.advanced != nil || !st.locks[op.lock].offline {
		op.due = now.Add(s.lockDelay())
	}
	switch op.kind {
	case opCreate:
		a := op.auth
		if a.Type == bridge.AuthTypeApp && a.AccountUserID != 0 {
			st.creating[pair{a.AccountUserID, op.lock}]++
		}
		st.creatingOn[op.lock]++
	case opModify, opDelete:
		op.id = st.objectID(now)
		op.auth.OperationID = op.id
	}
	st.ops = append(st.ops, op)
}

// catchUp carries out, in time order, every operation and lock sync due by
// now, each as of its own due time. The caller holds s.mu.
func (s *Sim) catchUp() {
	st := &s.state
	now := s.now()
	for {
		next := -1
		for i, op := range st.ops {
			if !op.due.IsZero() && !op.due.After(now) && (next < 0 || op.due.Before(st.ops[next].due)) {
				next = i
			}
		}
		var tick *lockState
		for _, l := range st.locks {
			if l.offline || l.nextSync.After(now) {
				continue
			}
			if tick == nil || l.nextSync.Before(tick.nextSync) || l.nextSync.Equal(tick.nextSync) && l.ID < tick.ID {
				tick = l
			}
		}
		switch {
		case next < 0 && tick == nil:
			for _, l := range st.locks { // an offline lock misses its syncs
				st.skipSyncs(l, now)
			}
			return
		case tick != nil && (next < 0 || tick.nextSync.Before(st.ops[next].due)):
			// Uses are recorded at the time of a catch-up, so the first
			// sync missed since then takes them all and later ones would
			// find nothing: one sync stands for all of them.
			s.syncLock(tick.ID)
			st.skipSyncs(tick, now)
		default:
			op := st.ops[next]
			st.ops = slices.Delete(st.ops, next, next+1)
			s.carryOut(op)
		}
	}
}

// skipSyncs moves a lock's next periodic sync past now.
func (st *state) skipSyncs(l *lockState, now time.Time) {
	if !l.nextSync.After(now) {
		n := now.Sub(l.nextSync)/st.syncEvery + 1
		l.nextSync = l.nextSync.Add(n * st.syncEvery)
	}
}

// carryOut does what op asks, as its lock does at op.due, and queues the
// webhooks that follow. The caller holds s.mu.
func (s *Sim) carryOut(op *operation) {
	st := &s.state
	at := op.due
	switch op.kind {
	case opCreate:
		s.create(op)
	case opModify:
		if a := op.auth; st.auths[a.ID] == a {
			op.change(&a.Auth)
			a.UpdateDate, a.OperationID = at, ""
			s.notifyDeviceAuth(a.Auth, false)
		}
	case opDelete:
		if a := op.auth; st.auths[a.ID] == a {
			a.OperationID = ""
			deleted, _ := st.deleteAuth(a.ID)
			s.notifyDeviceAuth(deleted, true)
		}
	case opSync:
		s.syncLock(op.lock)
	}
}

// create lists the authorization of a create operation as its lock takes it:
// the lock makes the authId; Nuki emails the invite code (standard create)
// or reports the outcome (Advanced API). The caller holds s.mu.
func (s *Sim) create(op *operation) {
	st := &s.state
	a := op.auth
	if p := (pair{a.AccountUserID, op.lock}); st.creating[p] > 0 {
		if st.creating[p]--; st.creating[p] == 0 {
			delete(st.creating, p)
		}
	}
	st.creatingOn[op.lock]--
	l := st.locks[op.lock]
	failure := ""
	switch {
	case l == nil, a.AccountUserID != 0 && st.users[a.AccountUserID] == nil:
		failure = "ff" // the lock or the user went away meanwhile
	case op.advanced != nil && l.offline:
		failure = "ff" // the device is most likely offline
	case st.lockAuths[op.lock] >= maxAuthsPerLock:
		failure = "0x13"
	}
	var code string
	if failure == "" {
		a.UpdateDate = op.due
		listed := st.addAuth(a.Auth, op.due)
		code = inviteCode()
		if op.invite && listed.Type == bridge.AuthTypeApp && listed.AccountUserID != 0 {
			s.emails = append(s.emails, Email{To: st.users[listed.AccountUserID].Email,
				AccountUserID: listed.AccountUserID, SmartlockID: op.lock, AuthID: listed.ID, Code: code, At: op.due})
		}
		s.notifyDeviceAuth(listed.Auth, false)
	} else {
		s.log.Debug("lock did not take an authorization", "smartlock_id", op.lock, "error_code", failure)
	}
	if req := op.advanced; req != nil {
		d := wireAuthDetail{SmartlockID: op.lock, ID: a.ID, Success: failure == "", ErrorCode: failure}
		if d.Success {
			d.Code = code
		}
		req.detail[op.slot] = d
		if req.left--; req.left == 0 {
			s.notifyAuthCreation(req)
		}
	}
}

// syncLock brings the lockCount and lastActiveDate of the lock's
// authorizations up to its uses. The caller holds s.mu.
func (s *Sim) syncLock(lockID int64) {
	st := &s.state
	for id := range st.unsynced {
		a := st.auths[id]
		if a.SmartlockID != lockID {
			continue
		}
		a.LockCount += a.unsynced
		a.LastActiveDate = a.lastUse
		a.unsynced = 0
		delete(st.unsynced, id)
	}
}

// Settle makes the locks catch up with the simulator's clock (Options.Now):
// every pending write whose due time has come is carried out and every lock
// sync due is done, in time order, and the webhooks they cause are sent in
// the background. Every API request and every control method settles first;
// a served simulator (Run, ListenAndServe) also settles every 200ms of real
// time. Tests with a clock of their own advance it and call Settle.
func (s *Sim) Settle() {
	s.acquire()
	s.release()
}

// SyncLock asks a lock to sync now, as POST /smartlock/{smartlockId}/sync
// does: after the lock delay, once the lock is online, the lockCount and
// lastActiveDate of its authorizations catch up with its uses. Unknown
// lock: ErrNotFound.
func (s *Sim) SyncLock(smartlockID int64) error {
	s.acquire()
	defer s.release()
	if s.state.locks[smartlockID] == nil {
		return fmt.Errorf("smartlock %d: %w", smartlockID, bridge.ErrNotFound)
	}
	s.enqueue(&operation{kind: opSync, lock: smartlockID})
	return nil
}

// SetOffline takes a lock off line (serverState 4) or back. An offline lock
// still has writes accepted (204) but carries none out and does not sync;
// once back online it carries out what waits for it after the lock delay,
// counted from then. An Advanced API create is not held: if its lock is
// offline when it falls due, its outcome is errorCode "ff". Unknown lock:
// ErrNotFound.
func (s *Sim) SetOffline(smartlockID int64, offline bool) error {
	s.acquire()
	defer s.release()
	l := s.state.locks[smartlockID]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", smartlockID, bridge.ErrNotFound)
	}
	if l.offline == offline {
		return nil
	}
	l.offline = offline
	due := time.Time{}
	if !offline {
		due = s.now().Add(s.lockDelay())
	}
	for _, op := range s.state.ops {
		if op.lock == smartlockID && op.advanced == nil {
			op.due = due
		}
	}
	return nil
}
