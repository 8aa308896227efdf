package bridge_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// memStore keeps the state in memory and counts commits. It copies on the
// way in and out, as a real store does.
type memStore struct {
	mu      sync.Mutex
	st      bridge.State
	commits int
	// seen, when set, is shown every batch before it is applied.
	seen func(bridge.Batch)
}

func newMemStore() *memStore {
	return &memStore{st: bridge.State{
		Locks: map[int64]bridge.Lock{}, Users: map[int64]bridge.User{}, Auths: map[string]bridge.Auth{},
		Invitations: map[bridge.InviteID]bridge.Invitation{}, Codes: map[bridge.InviteID]bridge.Secret{},
		Requests: map[string]bridge.Request{},
	}}
}

func (m *memStore) Load(context.Context) (bridge.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	invs := make(map[bridge.InviteID]bridge.Invitation, len(m.st.Invitations))
	for id, inv := range m.st.Invitations {
		invs[id] = inv.Clone()
	}
	return bridge.State{Locks: maps.Clone(m.st.Locks), Users: maps.Clone(m.st.Users), Auths: maps.Clone(m.st.Auths),
		Invitations: invs, Codes: maps.Clone(m.st.Codes), Requests: maps.Clone(m.st.Requests)}, nil
}

func (m *memStore) Commit(_ context.Context, b bridge.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commits++
	if m.seen != nil {
		m.seen(b)
	}
	b.Invitations = slices.Clone(b.Invitations)
	for i := range b.Invitations {
		b.Invitations[i] = b.Invitations[i].Clone()
	}
	m.st.Apply(&b)
	return nil
}

func (m *memStore) Commits() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits
}

// fakeNuki is an in-memory Nuki Web for the core's unit tests; the Nuki Web
// simulator covers the HTTP side.
type fakeNuki struct {
	mu       sync.Mutex
	now      func() time.Time
	locks    []bridge.Lock
	users    map[int64]bridge.User
	auths    map[string]bridge.Auth
	nextID   int64
	emails   int                        // Nuki invitation emails
	requests map[string][]int64         // advanced request id → locks
	fetchErr error                      // returned by Fetch
	refuse   map[int64]error            // CreateAuth on these locks fails
	advanced []bridge.Grant             // grants of advanced creates
	deleted  []string                   // deleted auth ids
	created  map[string]bridge.Grant    // auth id → grant
	byLock   map[int64]map[int64]string // lock → user → auth id
	log      []bridge.LogEntry          // the activity log, oldest first
	synced   []int64                    // locks asked to sync
	// holdCreates lists new authorizations with an operation running (the
	// lock has not taken them); holdDeletes keeps deleted ones listed with
	// an operation running. release carries both out.
	holdCreates, holdDeletes bool
	deleting                 map[string]bool
	hideUsers                int // FindUser misses this many more look-ups
	// fetching, when set, receives a value once Fetch has read the
	// account; Fetch then waits for fetchGate to close before answering.
	fetching  chan struct{}
	fetchGate chan struct{}
	// finding, when set, receives a value when FindAuth is called, which
	// then waits for findGate to close.
	finding  chan struct{}
	findGate chan struct{}
}

func newFakeNuki(now func() time.Time, locks ...string) *fakeNuki {
	f := &fakeNuki{now: now, users: map[int64]bridge.User{}, auths: map[string]bridge.Auth{},
		requests: map[string][]int64{}, refuse: map[int64]error{}, created: map[string]bridge.Grant{},
		deleting: map[string]bool{}}
	for i, name := range locks {
		f.locks = append(f.locks, bridge.Lock{ID: int64(100 + i), Name: name, Type: 4})
	}
	return f
}

func (f *fakeNuki) Fetch(context.Context) (bridge.Snapshot, error) {
	snap, err := f.snapshot()
	if f.fetching != nil {
		f.fetching <- struct{}{}
		<-f.fetchGate
	}
	return snap, err
}

func (f *fakeNuki) snapshot() (bridge.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fetchErr != nil {
		return bridge.Snapshot{}, f.fetchErr
	}
	snap := bridge.Snapshot{Locks: slices.Clone(f.locks), Calls: 3}
	for _, u := range f.users {
		snap.Users = append(snap.Users, u)
	}
	for _, a := range f.auths {
		snap.Auths = append(snap.Auths, a)
	}
	return snap, nil
}

func (f *fakeNuki) FindUser(_ context.Context, email string) (bridge.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hideUsers > 0 {
		f.hideUsers--
		return bridge.User{}, fmt.Errorf("user %s: %w", email, bridge.ErrNotFound)
	}
	for _, u := range f.users {
		if u.Email == email {
			return u, nil
		}
	}
	return bridge.User{}, fmt.Errorf("user %s: %w", email, bridge.ErrNotFound)
}

func (f *fakeNuki) CreateUser(_ context.Context, nu bridge.NewUser) (bridge.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Email == nu.Email {
			return bridge.User{}, &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrInvalid, Status: 400,
				Description: "email already in use"}
		}
	}
	f.nextID++
	u := bridge.User{ID: 5000 + f.nextID, Email: nu.Email, Name: nu.Name, Language: nu.Language}
	f.users[u.ID] = u
	return u, nil
}

func (f *fakeNuki) addAuth(lock int64, g bridge.Grant) string {
	f.nextID++
	id := fmt.Sprintf("auth%d", f.nextID)
	a := bridge.Auth{ID: id, SmartlockID: lock, AccountUserID: g.AccountUserID, Type: 0, Name: g.Name,
		Enabled: true, RemoteAllowed: g.RemoteAllowed, Access: g.Access, CreationDate: f.now().UTC(), AuthID: 7}
	if f.holdCreates {
		a.AuthID, a.OperationID = 0, "op-"+id
	}
	f.auths[id] = a
	f.created[id] = g
	return id
}

func (f *fakeNuki) CreateAuth(_ context.Context, lock int64, g bridge.Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse[lock]; err != nil {
		return err
	}
	for _, a := range f.auths {
		if a.SmartlockID == lock && a.AccountUserID == g.AccountUserID {
			return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrConflict, Status: 409, Description: "auth exists"}
		}
	}
	f.addAuth(lock, g)
	f.emails++
	return nil
}

func (f *fakeNuki) CreateAdvancedAuth(_ context.Context, locks []int64, g bridge.Grant) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("req-%d", f.nextID)
	f.requests[id] = slices.Clone(locks)
	f.advanced = append(f.advanced, g)
	for _, lock := range locks {
		f.addAuth(lock, g)
	}
	return id, nil
}

func (f *fakeNuki) DeleteAuth(_ context.Context, lock int64, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.auths[id]
	if !ok {
		return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrNotFound, Status: 404, Description: "not found"}
	}
	if a.OperationID != "" {
		return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrBusy, Status: 423, Description: "locked"}
	}
	if f.holdDeletes {
		a.OperationID = "del-" + id
		f.auths[id] = a
		f.deleting[id] = true
		f.deleted = append(f.deleted, id)
		return nil
	}
	delete(f.auths, id)
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeNuki) FindAuth(_ context.Context, lock, user int64) (bridge.Auth, error) {
	if f.finding != nil {
		f.finding <- struct{}{}
		<-f.findGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.auths {
		if a.SmartlockID == lock && a.AccountUserID == user {
			return a, nil
		}
	}
	return bridge.Auth{}, fmt.Errorf("auth: %w", bridge.ErrNotFound)
}

func (f *fakeNuki) ActivityLog(_ context.Context, since time.Time) ([]bridge.LogEntry, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bridge.LogEntry
	for _, e := range f.log {
		if e.Date.After(since) {
			out = append(out, e)
		}
	}
	return out, false, nil
}

func (f *fakeNuki) SyncLock(_ context.Context, lock int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = append(f.synced, lock)
	return nil
}

// use records the guest opening the lock with the app, in the activity log
// only: lockCount and lastActiveDate do not change.
func (f *fakeNuki) use(t *testing.T, lock, user int64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.auths {
		if a.SmartlockID == lock && a.AccountUserID == user {
			f.log = append(f.log, bridge.LogEntry{ID: fmt.Sprintf("log%d", len(f.log)+1), SmartlockID: lock,
				AccountUserID: user, AuthID: a.ID, Name: a.Name, Action: bridge.ActionUnlock,
				Trigger: bridge.TriggerApp, Date: f.now().UTC()})
			return
		}
	}
	t.Fatalf("no auth of user %d on lock %d", user, lock)
}

// release lets the lock carry out every held create and delete.
func (f *fakeNuki) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, a := range f.auths {
		if f.deleting[id] {
			delete(f.auths, id)
			delete(f.deleting, id)
			continue
		}
		if a.OperationID != "" {
			a.OperationID, a.AuthID = "", 7
			f.auths[id] = a
		}
	}
}

// accept redeems the invitation of user on lock as the Nuki app would.
func (f *fakeNuki) accept(t *testing.T, lock, user int64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, a := range f.auths {
		if a.SmartlockID == lock && a.AccountUserID == user {
			a.LockCount, a.LastActiveDate, a.AppID = 1, f.now().UTC(), 77
			f.auths[id] = a
			return
		}
	}
	t.Fatalf("no auth of user %d on lock %d", user, lock)
}

func (f *fakeNuki) Emails() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.emails
}

// recorder is a Subscriber that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []bridge.Event
	states []bridge.SyncState
}

func (r *recorder) InvitationEvents(evs []bridge.Event) {
	r.mu.Lock()
	r.events = append(r.events, evs...)
	r.mu.Unlock()
}

func (r *recorder) SyncStateChanged(s bridge.SyncState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

// types returns the event types seen so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, string(e.Type)+":"+string(e.Invitation.ID))
	}
	r.events = nil
	return out
}

// mailbox is a Mailer that keeps every message.
type mailbox struct {
	mu   sync.Mutex
	sent []bridge.Message
	err  error
}

func (m *mailbox) Send(_ context.Context, msg bridge.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) Kinds() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, msg := range m.sent {
		out = append(out, string(msg.Kind)+":"+msg.To)
	}
	return out
}

// The fake's locks have no keypad: the core's keypad tests run against the
// Nuki Web simulator (keypad_test.go).
func (f *fakeNuki) CreateKeypadCode(context.Context, []int64, bridge.KeypadGrant) error {
	return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Reason: bridge.ErrInvalid, Status: 400, Description: "no keypad is paired"}
}

func (f *fakeNuki) FindKeypadCode(context.Context, int64, bridge.Secret) (bridge.Auth, error) {
	return bridge.Auth{}, fmt.Errorf("keypad code: %w", bridge.ErrNotFound)
}
