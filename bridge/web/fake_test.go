package web_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// newTestServer returns a server over a fakeService. The page's tests use
// it; the API's run against the real Service (see newRealServer).
func newTestServer(t *testing.T, tweak func(*web.Options)) (*web.Server, *fakeService) {
	t.Helper()
	f := newFake()
	// httptest.NewRequest's requests name example.com.
	opts := web.Options{Service: f, AllowedHosts: []string{"example.com"}, Now: func() time.Time { return fakeNow }}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	web.WrapHandler(s, checkAnswers(t, opts.Extra))
	return s, f
}

// seed gives the fake three invitations: Alice pending, Bob accepted and
// Carol expired.
func seed(f *fakeService) {
	f.add(bridge.Invitation{SmartlockID: 11, AccountUserID: 1, Name: "Alice", Email: "alice@example.com",
		Status: bridge.StatusPending, Send: 1, SentAt: fakeNow.Add(-2 * time.Hour), ExpiresAt: fakeNow.Add(46 * time.Hour),
		History: []bridge.HistoryEntry{{At: fakeNow.Add(-2 * time.Hour), Event: bridge.EventCreated, Actor: "mqtt"}}})
	f.add(bridge.Invitation{SmartlockID: 22, AccountUserID: 2, Name: "Bob", Email: "bob@example.com",
		Status: bridge.StatusAccepted, Send: 1, SentAt: fakeNow.Add(-30 * time.Hour), ExpiresAt: fakeNow.Add(18 * time.Hour),
		AcceptedAt: fakeNow.Add(-1 * time.Hour)})
	f.add(bridge.Invitation{SmartlockID: 11, AccountUserID: 3, Name: "Carol", Email: "carol@example.com",
		Status: bridge.StatusExpired, Send: 2, ResendCount: 1, SentAt: fakeNow.Add(-50 * time.Hour), ExpiresAt: fakeNow.Add(-2 * time.Hour)})
}

// fakeService is an in-memory web.Service that records what it was asked.
type fakeService struct {
	mu      sync.Mutex
	now     time.Time
	locks   []bridge.Lock
	invs    map[bridge.InviteID]bridge.Invitation
	codes   map[bridge.InviteID]string
	state   bridge.SyncState
	subs    map[int]bridge.Subscriber
	nextSub int
	nextUID int64

	// fail makes the named method return the error.
	fail map[string]error

	lastFilter bridge.Filter
	lastCreate bridge.CreateRequest
	lastResend bridge.ResendOptions
	lastActor  string
	creates    int // calls of Create, valid or not
	syncs      int
	confirmed  int
}

var _ web.Service = (*fakeService)(nil)

var fakeNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

func newFake() *fakeService {
	f := &fakeService{
		now:     fakeNow,
		locks:   []bridge.Lock{{ID: 11, Name: "Front door"}, {ID: 22, Name: "Garden gate"}},
		invs:    map[bridge.InviteID]bridge.Invitation{},
		codes:   map[bridge.InviteID]string{},
		state:   bridge.SyncState{Status: bridge.SyncOK, LastSync: fakeNow.Add(-3 * time.Minute), Counts: map[bridge.Status]int{}},
		subs:    map[int]bridge.Subscriber{},
		fail:    map[string]error{},
		nextUID: 500,
	}
	return f
}

// add stores an invitation as the fake's own.
func (f *fakeService) add(inv bridge.Invitation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv.ID = bridge.MakeInviteID(inv.SmartlockID, inv.AccountUserID)
	if inv.Delivery == "" {
		inv.Delivery = bridge.DeliveryNuki // as the core adopts them
	}
	if inv.LockName == "" {
		inv.LockName = f.lockName(inv.SmartlockID)
	}
	f.invs[inv.ID] = inv
}

func (f *fakeService) lockName(id int64) string {
	for _, l := range f.locks {
		if l.ID == id {
			return l.Name
		}
	}
	return ""
}

func (f *fakeService) Invitations(flt bridge.Filter) []bridge.Invitation {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastFilter = flt
	var out []bridge.Invitation
	for _, inv := range f.invs {
		if len(flt.Statuses) > 0 && !slices.Contains(flt.Statuses, inv.Status) {
			continue
		}
		if flt.SmartlockID != 0 && inv.SmartlockID != flt.SmartlockID {
			continue
		}
		text := strings.ToLower(inv.Name + " " + inv.Email + " " + inv.LockName)
		if flt.Text != "" && !strings.Contains(text, strings.ToLower(flt.Text)) {
			continue
		}
		out = append(out, inv.Clone())
	}
	slices.SortFunc(out, func(a, b bridge.Invitation) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

func (f *fakeService) Invitation(id bridge.InviteID) (bridge.Invitation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invs[id]
	if !ok {
		return bridge.Invitation{}, fmt.Errorf("%w: no invitation %s", bridge.ErrNotFound, id)
	}
	return inv.Clone(), nil
}

func (f *fakeService) Locks() []bridge.Lock {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.locks)
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

func (f *fakeService) Create(ctx context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error) {
	f.mu.Lock()
	f.creates++
	f.mu.Unlock()
	if err := r.Check(); err != nil { // as the real Service does first
		return nil, err
	}
	f.mu.Lock()
	f.lastCreate = r
	if err := f.fail["Create"]; err != nil {
		f.mu.Unlock()
		return nil, err
	}
	f.nextUID++
	var out []bridge.Invitation
	var events []bridge.Event
	for _, lock := range r.SmartlockIDs {
		name := f.lockName(lock)
		if name == "" {
			f.mu.Unlock()
			return nil, fmt.Errorf("%w: no lock %d", bridge.ErrInvalid, lock)
		}
		inv := bridge.Invitation{
			ID: bridge.MakeInviteID(lock, f.nextUID), SmartlockID: lock, AccountUserID: f.nextUID,
			Name: r.Name, Email: r.Email, Language: r.Language, LockName: name, Delivery: r.Delivery,
			RemoteAllowed: r.RemoteAllowed, Access: r.Access, Send: 1, SentAt: f.now, ExpiresAt: f.now.Add(48 * time.Hour),
			Status: bridge.StatusPending, HasCode: r.Delivery == bridge.DeliveryCustom,
			History: []bridge.HistoryEntry{{At: f.now, Event: bridge.EventCreated, Actor: r.Actor}},
		}
		f.invs[inv.ID] = inv
		if inv.HasCode {
			f.codes[inv.ID] = "123456789"
		}
		out = append(out, inv.Clone())
		events = append(events, bridge.Event{Type: bridge.EventCreated, At: f.now, Invitation: inv.Clone()})
	}
	f.mu.Unlock()
	f.emit(events)
	return out, nil
}

// CheckCreate makes the request's own checks only; the bulk create is
// tested against the real Service.
func (f *fakeService) CheckCreate(r bridge.CreateRequest) error { return r.Check() }

func (f *fakeService) change(id bridge.InviteID, method string, apply func(*bridge.Invitation) error) (bridge.Invitation, error) {
	f.mu.Lock()
	if err := f.fail[method]; err != nil {
		f.mu.Unlock()
		return bridge.Invitation{}, err
	}
	inv, ok := f.invs[id]
	if !ok {
		f.mu.Unlock()
		return bridge.Invitation{}, fmt.Errorf("%w: no invitation %s", bridge.ErrNotFound, id)
	}
	if err := apply(&inv); err != nil {
		f.mu.Unlock()
		return bridge.Invitation{}, err
	}
	f.invs[id] = inv
	f.mu.Unlock()
	f.emit([]bridge.Event{{Type: inv.History[len(inv.History)-1].Event, At: f.now, Invitation: inv.Clone()}})
	return inv.Clone(), nil
}

func (f *fakeService) Resend(ctx context.Context, id bridge.InviteID, o bridge.ResendOptions) (bridge.Invitation, error) {
	f.mu.Lock()
	f.lastResend = o
	f.mu.Unlock()
	return f.change(id, "Resend", func(inv *bridge.Invitation) error {
		if !inv.Status.Resendable() && !(o.Force && inv.Status == bridge.StatusAccepted) {
			return fmt.Errorf("%w: the invitation is %s", bridge.ErrConflict, inv.Status)
		}
		inv.ResendCount++
		inv.Send++
		inv.Status, inv.AcceptedAt, inv.AcceptedSignal = bridge.StatusSending, time.Time{}, ""
		inv.History = append(inv.History, bridge.HistoryEntry{At: f.now, Event: bridge.EventResent, Actor: o.Actor})
		return nil
	})
}

func (f *fakeService) Revoke(ctx context.Context, id bridge.InviteID, actor string) (bridge.Invitation, error) {
	f.mu.Lock()
	f.lastActor = actor
	f.mu.Unlock()
	return f.change(id, "Revoke", func(inv *bridge.Invitation) error {
		inv.Status, inv.RevokedAt = bridge.StatusRevoked, f.now
		inv.History = append(inv.History, bridge.HistoryEntry{At: f.now, Event: bridge.EventRevoked, Actor: actor})
		return nil
	})
}

// accept marks an invitation accepted, as a sync would.
func (f *fakeService) accept(id bridge.InviteID) {
	if _, err := f.change(id, "", func(inv *bridge.Invitation) error {
		inv.Status, inv.AcceptedAt, inv.AcceptedSignal = bridge.StatusAccepted, f.now, bridge.SignalLockCount
		inv.History = append(inv.History, bridge.HistoryEntry{At: f.now, Event: bridge.EventAccepted, Actor: "sync"})
		return nil
	}); err != nil {
		panic(err)
	}
}

func (f *fakeService) RevealCode(ctx context.Context, id bridge.InviteID, actor string) (bridge.Code, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastActor = actor
	if err := f.fail["RevealCode"]; err != nil {
		return bridge.Code{}, err
	}
	code, ok := f.codes[id]
	if !ok {
		return bridge.Code{}, fmt.Errorf("%w: no code stored for %s", bridge.ErrNotFound, id)
	}
	return bridge.Code{InviteID: id, Code: bridge.Secret(code), ExpiresAt: f.invs[id].ExpiresAt}, nil
}

// RequestSync counts the request and, like the Service's loop soon after,
// publishes the state.
func (f *fakeService) RequestSync() {
	f.mu.Lock()
	f.syncs++
	f.mu.Unlock()
	f.emitState()
}

// ConfirmHeldSync confirms a held sync, like the Service: ErrConflict
// unless the state says held.
func (f *fakeService) ConfirmHeldSync() error {
	f.mu.Lock()
	held := f.state.Status == bridge.SyncHeld
	if held {
		f.confirmed++
	}
	f.mu.Unlock()
	if !held {
		return fmt.Errorf("%w: no sync is held", bridge.ErrConflict)
	}
	return nil
}

func (f *fakeService) Subscribe(sub bridge.Subscriber) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nextSub
	f.nextSub++
	f.subs[n] = sub
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, n)
	}
}

func (f *fakeService) subscribers() []bridge.Subscriber {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bridge.Subscriber
	for _, s := range f.subs {
		out = append(out, s)
	}
	return out
}

func (f *fakeService) emit(events []bridge.Event) {
	for _, s := range f.subscribers() {
		s.InvitationEvents(events)
	}
}

func (f *fakeService) emitState() {
	st := f.SyncState()
	for _, s := range f.subscribers() {
		s.SyncStateChanged(st)
	}
}
