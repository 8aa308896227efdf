package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
)

var _ mqtt.Service = (*fakeService)(nil)

// fakeService stands in for *bridge.Service: invitations and locks in
// memory, and the subscriber told about every change, as the real one does.
type fakeService struct {
	mu          sync.Mutex
	now         func() time.Time
	invs        map[bridge.InviteID]bridge.Invitation
	locks       []bridge.Lock
	state       bridge.SyncState
	codes       map[bridge.InviteID]bridge.Secret
	exposeCodes bool
	calls       []string
	creates     []bridge.CreateRequest
	sub         bridge.Subscriber
	nextUser    int64
	heldSync    bool // ConfirmHeldSync succeeds
	// gate, when set, holds every Create until it is closed.
	gate chan struct{}
}

func newFakeService(now func() time.Time, invs ...bridge.Invitation) *fakeService {
	f := &fakeService{
		now: now, invs: make(map[bridge.InviteID]bridge.Invitation), codes: make(map[bridge.InviteID]bridge.Secret),
		state:    bridge.SyncState{Status: bridge.SyncOK, LastSync: now().Add(-time.Minute)},
		nextUser: 900,
	}
	for _, inv := range invs {
		f.invs[inv.ID] = inv
	}
	return f
}

func (f *fakeService) subscribe(sub bridge.Subscriber) {
	f.mu.Lock()
	f.sub = sub
	f.mu.Unlock()
}

// Invitations returns the invitations in id order; of the filter it honours
// only the lock.
func (f *fakeService) Invitations(filter bridge.Filter) []bridge.Invitation {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Collect(maps.Values(f.invs))
	if filter.SmartlockID != 0 {
		out = slices.DeleteFunc(out, func(inv bridge.Invitation) bool { return inv.SmartlockID != filter.SmartlockID })
	}
	slices.SortFunc(out, func(a, b bridge.Invitation) int { return bytes.Compare([]byte(a.ID), []byte(b.ID)) })
	return out
}

func (f *fakeService) Locks() []bridge.Lock {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.locks)
}

// setLocks replaces the account's locks.
func (f *fakeService) setLocks(locks ...bridge.Lock) {
	f.mu.Lock()
	f.locks = slices.Clone(locks)
	f.mu.Unlock()
}

// put stores an invitation as it is now, without telling the subscriber.
func (f *fakeService) put(inv bridge.Invitation) {
	f.mu.Lock()
	f.invs[inv.ID] = inv
	f.mu.Unlock()
}

// get returns one invitation; the test fails if it is not there.
func (f *fakeService) get(id bridge.InviteID) bridge.Invitation {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invs[id]
	if !ok {
		panic("fake service: no invitation " + string(id))
	}
	return inv
}

func (f *fakeService) SyncState() bridge.SyncState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state
	st.Counts = map[bridge.Status]int{}
	for _, inv := range f.invs {
		st.Counts[inv.Status]++
	}
	return st
}

func (f *fakeService) RequestSync() { f.record("sync") }

// ConfirmHeldSync records the call; a fake sync is never held unless the
// test says so with heldSync.
func (f *fakeService) ConfirmHeldSync() error {
	f.record("confirm_held")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.heldSync {
		return fmt.Errorf("%w: no sync is held", bridge.ErrConflict)
	}
	return nil
}

func (f *fakeService) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

func (f *fakeService) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// change applies fn to an invitation and tells the subscriber.
func (f *fakeService) change(id bridge.InviteID, ev bridge.EventType, fn func(*bridge.Invitation)) (bridge.Invitation, error) {
	f.mu.Lock()
	inv, ok := f.invs[id]
	if !ok {
		f.mu.Unlock()
		return bridge.Invitation{}, fmt.Errorf("%w: no invitation %s", bridge.ErrNotFound, id)
	}
	fn(&inv)
	f.invs[id] = inv
	sub := f.sub
	f.mu.Unlock()
	if sub != nil {
		sub.InvitationEvents([]bridge.Event{{Type: ev, At: f.now(), Invitation: inv}})
	}
	return inv, nil
}

func (f *fakeService) Create(ctx context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error) {
	f.record("create " + r.Email)
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if r.Email == "" || len(r.SmartlockIDs) == 0 {
		return nil, fmt.Errorf("%w: email and smartlock_ids are required", bridge.ErrInvalid)
	}
	f.mu.Lock()
	f.creates = append(f.creates, r)
	f.nextUser++
	var out []bridge.Invitation
	var events []bridge.Event
	now := f.now()
	for _, lock := range r.SmartlockIDs {
		inv := bridge.Invitation{
			ID: bridge.MakeInviteID(lock, f.nextUser), SmartlockID: lock, AccountUserID: f.nextUser,
			Name: r.Name, Email: r.Email, LockName: fmt.Sprintf("Lock %d", lock), Access: r.Access,
			Send: 1, SentAt: now, ExpiresAt: now.Add(48 * time.Hour), Status: bridge.StatusPending, HasCode: true,
		}
		f.invs[inv.ID] = inv
		f.codes[inv.ID] = "482913675"
		out = append(out, inv)
		events = append(events, bridge.Event{Type: bridge.EventCreated, At: now, Invitation: inv})
	}
	sub := f.sub
	f.mu.Unlock()
	if sub != nil {
		sub.InvitationEvents(events)
	}
	return out, nil
}

// Resend starts a re-send as the Service does: the invitation is sending
// until the lock confirms, its old expiry still recorded. An accepted one
// is refused unless forced.
func (f *fakeService) Resend(_ context.Context, id bridge.InviteID, o bridge.ResendOptions) (bridge.Invitation, error) {
	call := fmt.Sprintf("resend %s %s %s", id, o.Delivery, o.Actor)
	if o.Force {
		call += " force"
	}
	f.record(call)
	f.mu.Lock()
	inv, ok := f.invs[id]
	f.mu.Unlock()
	if ok && !inv.Status.Resendable() && !(o.Force && inv.Status == bridge.StatusAccepted) {
		return bridge.Invitation{}, fmt.Errorf("%w: the invitation is %s", bridge.ErrConflict, inv.Status)
	}
	now := f.now()
	return f.change(id, bridge.EventChanged, func(inv *bridge.Invitation) {
		inv.ResendCount++
		inv.Send++
		inv.SentAt, inv.LastResendAt, inv.Status = now, now, bridge.StatusSending
		inv.AcceptedAt, inv.AcceptedSignal = time.Time{}, ""
	})
}

func (f *fakeService) Revoke(_ context.Context, id bridge.InviteID, actor string) (bridge.Invitation, error) {
	f.record(fmt.Sprintf("revoke %s %s", id, actor))
	now := f.now()
	return f.change(id, bridge.EventRevoked, func(inv *bridge.Invitation) {
		inv.RevokedAt, inv.Status = now, bridge.StatusRevoked
	})
}

func (f *fakeService) RevealCode(_ context.Context, id bridge.InviteID, actor string) (bridge.Code, error) {
	f.record(fmt.Sprintf("code %s %s", id, actor))
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.exposeCodes {
		return bridge.Code{}, fmt.Errorf("%w: EXPOSE_CODES is off", bridge.ErrDisabled)
	}
	code, ok := f.codes[id]
	if !ok {
		return bridge.Code{}, fmt.Errorf("%w: no code stored for %s", bridge.ErrNotFound, id)
	}
	return bridge.Code{InviteID: id, Code: code, ExpiresAt: f.invs[id].ExpiresAt}, nil
}

// memStore is the discovery bookkeeping of the bbolt store, in memory.
type memStore struct {
	mu     sync.Mutex
	topics map[string]string
	writes int
}

func newMemStore() *memStore { return &memStore{topics: map[string]string{}} }

func (s *memStore) PublishedDiscovery(context.Context) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.topics), nil
}

func (s *memStore) SetPublishedDiscovery(_ context.Context, put map[string]string, del []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(put)+len(del) > 0 {
		s.writes++
	}
	maps.Copy(s.topics, put)
	for _, t := range del {
		delete(s.topics, t)
	}
	return nil
}

func (s *memStore) Topics() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.topics)
}
