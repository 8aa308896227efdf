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
	bridge.Lock
	offline      bool
	unsubscribed bool
	created      time.Time
	nextAuthID   int64
}

type userState struct {
	bridge.User
	created, updated time.Time
}

type pair struct{ user, lock int64 }

// state is the account. Every method expects the caller to hold Sim.mu.
type state struct {
	locks     map[int64]*lockState
	users     map[int64]*userState
	userOrder []int64 // ascending ids
	byEmail   map[string]int64
	auths     map[string]*bridge.Auth
	authOrder []string // creation order
	byPair    map[pair]string
	pending   map[pair]bool // advanced requests not yet carried out
	lockAuths map[int64]int

	nextLock, nextUser, nextApp int64
	nextObject                  uint64
}

func newState() state {
	return state{
		locks: map[int64]*lockState{}, users: map[int64]*userState{}, byEmail: map[string]int64{},
		auths: map[string]*bridge.Auth{}, byPair: map[pair]string{}, pending: map[pair]bool{},
		lockAuths: map[int64]int{},
		nextLock:  firstLockID, nextUser: firstUserID, nextApp: 900_000_001,
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
	st.locks[l.ID] = &lockState{Lock: l, created: now, nextAuthID: 1}
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

func (st *state) deleteUser(id int64) {
	u := st.users[id]
	if u == nil {
		return
	}
	for _, authID := range slices.Clone(st.authOrder) {
		if st.auths[authID].AccountUserID == id {
			st.deleteAuth(authID)
		}
	}
	delete(st.byEmail, strings.ToLower(u.Email))
	delete(st.users, id)
	if i, ok := slices.BinarySearch(st.userOrder, id); ok {
		st.userOrder = slices.Delete(st.userOrder, i, i+1)
	}
}

// checkAuth says why an authorization for user on lock cannot be created:
// ErrNotFound (no such lock or user), ErrConflict (one already exists, or the
// lock is full), or nil.
func (st *state) checkAuth(lockID, userID int64, typ int) error {
	l := st.locks[lockID]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", lockID, bridge.ErrNotFound)
	}
	if userID != 0 && st.users[userID] == nil {
		return fmt.Errorf("account user %d: %w", userID, bridge.ErrNotFound)
	}
	if typ == bridge.AuthTypeApp && userID != 0 {
		p := pair{userID, lockID}
		if _, ok := st.byPair[p]; ok || st.pending[p] {
			return fmt.Errorf("one user can have only one authorization per smartlock: %w", bridge.ErrConflict)
		}
	}
	if st.lockAuths[lockID] >= maxAuthsPerLock {
		return fmt.Errorf("smartlock %d has %d authorizations, the limit: %w", lockID, maxAuthsPerLock,
			bridge.ErrConflict)
	}
	return nil
}

// addAuth stores a, filling in id and dates; the caller has run checkAuth.
func (st *state) addAuth(a bridge.Auth, now time.Time) bridge.Auth {
	if a.ID == "" {
		a.ID = st.objectID(now)
	}
	if a.CreationDate.IsZero() {
		a.CreationDate = now
	}
	if a.UpdateDate.IsZero() {
		a.UpdateDate = a.CreationDate
	}
	st.auths[a.ID] = &a
	st.authOrder = append(st.authOrder, a.ID)
	st.lockAuths[a.SmartlockID]++
	if a.Type == bridge.AuthTypeApp && a.AccountUserID != 0 {
		st.byPair[pair{a.AccountUserID, a.SmartlockID}] = a.ID
	}
	return a
}

func (st *state) deleteAuth(id string) (bridge.Auth, bool) {
	a, ok := st.auths[id]
	if !ok {
		return bridge.Auth{}, false
	}
	delete(st.auths, id)
	if i := slices.Index(st.authOrder, id); i >= 0 {
		st.authOrder = slices.Delete(st.authOrder, i, i+1)
	}
	st.lockAuths[a.SmartlockID]--
	p := pair{a.AccountUserID, a.SmartlockID}
	if st.byPair[p] == id {
		delete(st.byPair, p)
	}
	return *a, true
}

// accept redeems the app authorization of user on lock as the Nuki app would.
func (st *state) accept(lockID, userID int64, now time.Time) (bridge.Auth, error) {
	id, ok := st.byPair[pair{userID, lockID}]
	if !ok {
		return bridge.Auth{}, fmt.Errorf("no app authorization of user %d on smartlock %d: %w", userID, lockID,
			bridge.ErrNotFound)
	}
	a := st.auths[id]
	if a.AuthID == 0 {
		l := st.locks[lockID]
		a.AuthID = l.nextAuthID
		l.nextAuthID++
	}
	if a.AppID == 0 {
		a.AppID = st.nextApp
		st.nextApp++
	}
	a.LockCount = max(a.LockCount, 1)
	a.LastActiveDate = now
	a.UpdateDate = now
	return *a, nil
}

// copyAuths returns the authorizations keep selects, in creation order.
func (st *state) copyAuths(keep func(*bridge.Auth) bool) []bridge.Auth {
	out := make([]bridge.Auth, 0, len(st.authOrder))
	for _, id := range st.authOrder {
		if a := st.auths[id]; keep(a) {
			out = append(out, *a)
		}
	}
	return out
}
