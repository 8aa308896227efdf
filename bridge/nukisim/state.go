package nukisim

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Nuki's limits as the simulator applies them.
const (
	accountID       = 4711
	maxAuthsPerLock = 200
	maxNameLen      = 32
	firstLockID     = 17_000_000_001
	firstUserID     = 1_001
)

type lockState struct {
	bridge.Lock  // Keypad mirrors keypad
	keypad       Keypad
	offline      bool
	unsubscribed bool
	created      time.Time
	nextAuthID   int64     // the lock's own counter for authId
	nextSync     time.Time // the lock's next periodic sync
}

type userState struct {
	bridge.User
	created, updated time.Time
}

// authState is an authorization the lock has: what the API lists, plus what
// the lock knows and Nuki Web does not yet.
type authState struct {
	bridge.Auth
	redeemed bool      // the guest entered the invite code in the app
	unsynced int       // uses since the lock's last sync
	lastUse  time.Time // date of the latest use, synced or not
}

type pair struct{ user, lock int64 }

// state is the account. Every method expects the caller to hold Sim.mu.
type state struct {
	locks     map[int64]*lockState
	users     map[int64]*userState
	userOrder []int64 // ascending ids
	byEmail   map[string]int64
	auths     map[string]*authState
	authOrder []string // creation order
	byPair    map[pair]string
	lockAuths map[int64]int // listed authorizations per lock

	ops        []*operation // writes the locks have not carried out yet, in request order
	creating   map[pair]int // app authorization creates waiting for their lock
	creatingOn map[int64]int
	unsynced   map[string]bool // authorizations used since their lock's last sync
	log        []logEntry      // oldest first

	syncEvery          time.Duration
	nextLock, nextUser int64
	nextObject         uint64
}

func newState(syncEvery time.Duration) state {
	return state{
		locks: map[int64]*lockState{}, users: map[int64]*userState{}, byEmail: map[string]int64{},
		auths: map[string]*authState{}, byPair: map[pair]string{}, lockAuths: map[int64]int{},
		creating: map[pair]int{}, creatingOn: map[int64]int{}, unsynced: map[string]bool{},
		syncEvery: syncEvery,
		nextLock:  firstLockID, nextUser: firstUserID,
	}
}

// objectID returns a new 24-hex-digit id like Nuki's authorization ids.
func (st *state) objectID(now time.Time) string {
	st.nextObject++
	return fmt.Sprintf("%08x%016x", uint32(now.Unix()), st.nextObject)
}

// inviteCode returns a random 9-digit invite code.
func inviteCode() string {
	return fmt.Sprintf("%09d", 100_000_000+rand.IntN(900_000_000))
}

// requestID returns a random UUID (version 4).
func requestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (st *state) addLock(l bridge.Lock, now time.Time) bridge.Lock {
	if l.ID == 0 {
		for st.locks[st.nextLock] != nil {
			st.nextLock++
		}
		l.ID = st.nextLock
		st.nextLock++
	}
	if l.Name == "" {
		l.Name = fmt.Sprintf("Door %d", len(st.locks)+1)
	}
	ls := &lockState{Lock: l, created: now, nextAuthID: 1, nextSync: now.Add(st.syncEvery)}
	if l.Keypad {
		ls.keypad = Keypad1
	}
	st.locks[l.ID] = ls
	return l
}

func (st *state) sortedLocks() []*lockState {
	out := make([]*lockState, 0, len(st.locks))
	for _, l := range st.locks {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *lockState) int { return cmpInt(a.ID, b.ID) })
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addUser creates an account user; an email in use fails with ErrConflict.
func (st *state) addUser(u bridge.User, now time.Time) (bridge.User, error) {
	key := strings.ToLower(u.Email)
	if _, ok := st.byEmail[key]; ok {
		return bridge.User{}, fmt.Errorf("email %q: %w", u.Email, bridge.ErrConflict)
	}
	if u.ID == 0 {
		for st.users[st.nextUser] != nil {
			st.nextUser++
		}
		u.ID = st.nextUser
		st.nextUser++
	} else if st.users[u.ID] != nil {
		return bridge.User{}, fmt.Errorf("account user %d: %w", u.ID, bridge.ErrConflict)
	}
	if u.Language == "" {
		u.Language = "en"
	}
	st.users[u.ID] = &userState{User: u, created: now, updated: now}
	st.byEmail[key] = u.ID
	i, _ := slices.BinarySearch(st.userOrder, u.ID)
	st.userOrder = slices.Insert(st.userOrder, i, u.ID)
	return u, nil
}

// removeUser takes a user off the account; their authorizations are the
// caller's business.
func (st *state) removeUser(id int64) {
	u := st.users[id]
	if u == nil {
		return
	}
	delete(st.byEmail, strings.ToLower(u.Email))
	delete(st.users, id)
	if i, ok := slices.BinarySearch(st.userOrder, id); ok {
		st.userOrder = slices.Delete(st.userOrder, i, i+1)
	}
}

// checkAuth says why an authorization for user on lock cannot be created:
// ErrNotFound (no such lock or user), ErrConflict (one exists or is being
// created, or the lock is full), or nil.
func (st *state) checkAuth(lockID, userID int64, typ int) error {
	l := st.locks[lockID]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", lockID, bridge.ErrNotFound)
	}
	if userID != 0 && st.users[userID] == nil {
		return fmt.Errorf("account user %d: %w", userID, bridge.ErrNotFound)
	}
	if typ == bridge.AuthTypeApp && st.pairTaken(userID, lockID) {
		return fmt.Errorf("one user can have only one authorization per smartlock: %w", bridge.ErrConflict)
	}
	if st.full(lockID) {
		return fmt.Errorf("smartlock %d has %d authorizations, the limit: %w", lockID, maxAuthsPerLock,
			bridge.ErrConflict)
	}
	return nil
}

// checkKeypadCode says why a keypad code cannot be created on a lock:
// ErrInvalid (no keypad paired) or ErrConflict (the lock has the code, or is
// about to). The caller has run checkAuth.
func (st *state) checkKeypadCode(lockID int64, code string) error {
	if st.locks[lockID].keypad == NoKeypad {
		return fmt.Errorf("no keypad is paired with smartlock %d: %w", lockID, bridge.ErrInvalid)
	}
	if st.codeTaken(lockID, code, "") {
		return fmt.Errorf("the keypad code %s is already used on smartlock %d: %w", code, lockID, bridge.ErrConflict)
	}
	return nil
}

// codeTaken reports whether a keypad code other than the authorization
// except has code on lock, or is being created or changed to it.
func (st *state) codeTaken(lockID int64, code, except string) bool {
	for _, id := range st.authOrder {
		if a := st.auths[id]; a.SmartlockID == lockID && a.ID != except && a.Type == bridge.AuthTypeKeypadCode &&
			a.Code.Reveal() == code {
			return true
		}
	}
	for _, op := range st.ops {
		if op.lock != lockID || op.auth == nil || op.auth.ID == except {
			continue
		}
		switch {
		case op.kind == opCreate && op.auth.Type == bridge.AuthTypeKeypadCode && op.auth.Code.Reveal() == code,
			op.kind == opModify && op.code == code:
			return true
		}
	}
	return false
}

// pairTaken reports whether user has an app authorization on lock, or one
// is being created.
func (st *state) pairTaken(userID, lockID int64) bool {
	if userID == 0 {
		return false
	}
	p := pair{userID, lockID}
	_, listed := st.byPair[p]
	return listed || st.creating[p] > 0
}

// full reports whether a lock has, or is about to have, as many
// authorizations as Nuki allows.
func (st *state) full(lockID int64) bool {
	return st.lockAuths[lockID]+st.creatingOn[lockID] >= maxAuthsPerLock
}

// addAuth lists a as an authorization its lock has, filling in id, dates
// and, when 0, the lock's authId; the caller has run checkAuth.
func (st *state) addAuth(a bridge.Auth, now time.Time) *authState {
	if a.ID == "" {
		a.ID = st.objectID(now)
	}
	if a.CreationDate.IsZero() {
		a.CreationDate = now
	}
	if a.UpdateDate.IsZero() {
		a.UpdateDate = a.CreationDate
	}
	if l := st.locks[a.SmartlockID]; a.AuthID == 0 {
		a.AuthID = l.nextAuthID
		l.nextAuthID++
	}
	as := &authState{Auth: a}
	st.auths[a.ID] = as
	st.authOrder = append(st.authOrder, a.ID)
	st.lockAuths[a.SmartlockID]++
	if a.Type == bridge.AuthTypeApp && a.AccountUserID != 0 {
		st.byPair[pair{a.AccountUserID, a.SmartlockID}] = a.ID
	}
	return as
}

func (st *state) deleteAuth(id string) (bridge.Auth, bool) {
	a, ok := st.auths[id]
	if !ok {
		return bridge.Auth{}, false
	}
	delete(st.auths, id)
	delete(st.unsynced, id)
	if i := slices.Index(st.authOrder, id); i >= 0 {
		st.authOrder = slices.Delete(st.authOrder, i, i+1)
	}
	st.lockAuths[a.SmartlockID]--
	p := pair{a.AccountUserID, a.SmartlockID}
	if st.byPair[p] == id {
		delete(st.byPair, p)
	}
	return a.Auth, true
}

// appAuth returns the app authorization of user on lock, or ErrNotFound.
func (st *state) appAuth(lockID, userID int64) (*authState, error) {
	id, ok := st.byPair[pair{userID, lockID}]
	if !ok {
		return nil, fmt.Errorf("no app authorization of user %d on smartlock %d: %w", userID, lockID,
			bridge.ErrNotFound)
	}
	return st.auths[id], nil
}

// copyAuths returns the authorizations keep selects, in creation order.
func (st *state) copyAuths(keep func(*bridge.Auth) bool) []bridge.Auth {
	out := make([]bridge.Auth, 0, len(st.authOrder))
	for _, id := range st.authOrder {
		if a := st.auths[id]; keep(&a.Auth) {
			out = append(out, a.Auth)
		}
	}
	return out
}
