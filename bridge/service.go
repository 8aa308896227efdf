package bridge

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures a Service. Zero durations take the defaults noted.
type Options struct {
	Validity           time.Duration // how long an invite code can be redeemed; 48h
	ReminderBefore     time.Duration // expiring_soon and reminders start this long before expiry; 12h
	ResendCooldown     time.Duration // a second re-send within this does nothing; 10m
	AutoResendAfter    time.Duration // re-send still-unused invitations this long after sending; 0 = off
	AutoResendOnExpiry bool          // re-send when an invitation expires
	AutoResendMax      int           // automatic re-sends per invitation; 2
	AdvancedAPI        bool          // the account may use PUT /smartlock/auth/advanced
	ExposeCodes        bool          // invite codes may be revealed on request
	AdminEmail         string        // receives the reminder digest, if set
	// ConfirmTimeout bounds how long the lock may take to carry out a
	// create or a delete; past it the invitation fails with the reason and
	// the scheduler retries; 1h.
	ConfirmTimeout time.Duration
	// FollowUp is how often invitations waiting for their lock are looked
	// up between syncs; 15s.
	FollowUp time.Duration
	// KeypadEmailBefore is how long before its window opens a keypad code
	// is e-mailed to the guest; at once when the window opens sooner; 24h;
	// negative: when the window opens.
	KeypadEmailBefore time.Duration
	// KeypadCleanupAfter is how long after its window ended a keypad code
	// is deleted from Nuki Web; 24h; negative: never.
	KeypadCleanupAfter time.Duration

	Now    func() time.Time // the clock; time.Now
	Logger *slog.Logger
}

// CreateRequest asks for one access per lock: an invitation (an app key) or
// a keypad code. Its JSON form (see UnmarshalJSON) is what MQTT and the HTTP
// API take.
type CreateRequest struct {
	RequestID     string   // optional; the same id within 30 days never creates twice
	Kind          Kind     // app (default) or keypad
	Email         string   // required for app; for keypad, where our e-mail sends the code
	Name          string   // required; the guest's name
	Language      string   // en de es fr it nl cs sk; default en
	SmartlockIDs  []int64  // one invitation per lock
	Delivery      Delivery // default nuki
	RemoteAllowed bool
	Access        Access // keypad: Until is required
	// Code is the keypad code to give (keypad only); a random one that no
	// code on the locks has is drawn when empty.
	Code Secret
	// TimeZone is the guest's IANA time zone, in which our e-mail shows a
	// keypad code's window; "" is the configured one.
	TimeZone string
	Actor    string // who asks, for the history: "mqtt", "web:alice"
}

// ResendOptions tunes a re-send. The zero value re-sends with the
// invitation's own delivery.
type ResendOptions struct {
	Delivery Delivery // "" keeps the invitation's delivery
	// Force re-sends an accepted invitation too, which takes the guest's
	// working key away until they redeem the new code.
	Force bool
	Actor string
}

// Filter selects invitations. Zero fields match everything.
type Filter struct {
	Statuses    []Status
	SmartlockID int64
	Text        string // matched against guest name, email and lock name, case-insensitively
}

// Code is an invite code revealed on request.
type Code struct {
	InviteID  InviteID  `json:"invite_id"`
	Code      Secret    `json:"-"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Service is the core of the bridge: it syncs Nuki Web into the Store and
// carries out every invitation action. Its methods are safe for concurrent
// use; actions that change state run one at a time.
type Service struct {
	store  Store
	nuki   Nuki
	mailer Mailer // nil: no emails of ours
	opts   Options
	log    *slog.Logger

	op      sync.Mutex // serialises everything that changes state
	syncing sync.Mutex // one sync at a time; held while Nuki Web is read, op is not

	mu    sync.RWMutex // guards the fields below
	state State
	sync  SyncState
	subs  []Subscriber
	// logSince is where the next activity-log read starts; zero before
	// the first. Guarded by syncing.
	logSince time.Time
	// held lists the invitations a held sync would have closed; heldOK
	// says the user confirmed it. Guarded by syncing.
	held   []InviteID
	heldOK bool
	// missing counts, per invitation, the syncs in a row that did not list
	// its authorization; one is not enough to call it deleted. Guarded by
	// syncing.
	missing map[InviteID]int
	// seq counts commits; touched is the commit that last changed each
	// invitation, so a sync leaves alone what changed while it read Nuki
	// Web. Guarded by mu (written with op held too).
	seq     uint64
	touched map[InviteID]uint64
	// keypad is what the last sync listed of keypad codes. Guarded by mu.
	keypad keypadListing

	syncNow chan struct{}
}

// NewService returns a Service; call Open before anything else. mailer may be
// nil when no SMTP server is configured.
func NewService(store Store, nuki Nuki, mailer Mailer, opts Options) *Service {
	if opts.Validity <= 0 {
		opts.Validity = 48 * time.Hour
	}
	if opts.ReminderBefore <= 0 {
		opts.ReminderBefore = 12 * time.Hour
	}
	if opts.ResendCooldown <= 0 {
		opts.ResendCooldown = 10 * time.Minute
	}
	if opts.ConfirmTimeout <= 0 {
		opts.ConfirmTimeout = time.Hour
	}
	if opts.FollowUp <= 0 {
		opts.FollowUp = 15 * time.Second
	}
	switch {
	case opts.KeypadEmailBefore == 0:
		opts.KeypadEmailBefore = 24 * time.Hour
	case opts.KeypadEmailBefore < 0:
		opts.KeypadEmailBefore = 0
	}
	if opts.KeypadCleanupAfter == 0 {
		opts.KeypadCleanupAfter = 24 * time.Hour
	}
	if opts.AutoResendMax < 0 {
		opts.AutoResendMax = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		store: store, nuki: nuki, mailer: mailer, opts: opts,
		log:     opts.Logger.With("component", "service"),
		syncNow: make(chan struct{}, 1),
		missing: map[InviteID]int{}, touched: map[InviteID]uint64{},
	}
}

// Open loads the stored state. It must be called once, before any other
// method.
func (s *Service) Open(ctx context.Context) error {
	st, err := s.store.Load(ctx)
	if err != nil {
		return err
	}
	if st.Locks == nil {
		st.Locks = map[int64]Lock{}
	}
	if st.Users == nil {
		st.Users = map[int64]User{}
	}
	if st.Auths == nil {
		st.Auths = map[string]Auth{}
	}
	if st.Invitations == nil {
		st.Invitations = map[InviteID]Invitation{}
	}
	if st.Codes == nil {
		st.Codes = map[InviteID]Secret{}
	}
	if st.Requests == nil {
		st.Requests = map[string]Request{}
	}
	s.mu.Lock()
	s.state = st
	s.sync = SyncState{Status: SyncRunning}
	s.mu.Unlock()
	s.log.Info("store loaded", "invitations", len(st.Invitations), "locks", len(st.Locks))
	return nil
}

// Subscribe adds a subscriber; the returned func removes it.
func (s *Service) Subscribe(sub Subscriber) (unsubscribe func()) {
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.subs = slices.DeleteFunc(s.subs, func(x Subscriber) bool { return x == sub })
		s.mu.Unlock()
	}
}

// SyncState returns the bridge's own state with current counts.
func (s *Service) SyncState() SyncState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.syncStateLocked()
}

func (s *Service) syncStateLocked() SyncState {
	st := s.sync
	st.Counts = make(map[Status]int, len(Statuses))
	for _, status := range Statuses {
		st.Counts[status] = 0
	}
	now := s.opts.Now()
	for _, inv := range s.state.Invitations {
		st.Counts[inv.StatusAt(now, s.opts.ReminderBefore)]++
	}
	return st
}

// Locks returns the account's locks, sorted by name.
func (s *Service) Locks() []Lock {
	s.mu.RLock()
	locks := make([]Lock, 0, len(s.state.Locks))
	for _, l := range s.state.Locks {
		locks = append(locks, l)
	}
	s.mu.RUnlock()
	slices.SortFunc(locks, func(a, b Lock) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return locks
}

// Invitations returns copies of the invitations matching f, with current
// statuses and without their history, newest sending first.
func (s *Service) Invitations(f Filter) []Invitation {
	now := s.opts.Now()
	text := strings.ToLower(strings.TrimSpace(f.Text))
	s.mu.RLock()
	size := 0 // a filtered list grows as it finds
	if f.SmartlockID == 0 && len(f.Statuses) == 0 && text == "" {
		size = len(s.state.Invitations)
	}
	out := make([]Invitation, 0, size)
	for _, inv := range s.state.Invitations {
		if f.SmartlockID != 0 && inv.SmartlockID != f.SmartlockID {
			continue
		}
		inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, inv.Status) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(inv.Name+"\x00"+inv.Email+"\x00"+inv.LockName), text) {
			continue
		}
		inv.History = nil
		out = append(out, inv)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Invitation) int {
		return cmp.Or(b.SentAt.Compare(a.SentAt), strings.Compare(string(a.ID), string(b.ID)))
	})
	return out
}

// InvitationIDs returns the id of every invitation, in order. With
// InvitationsByID it lets a caller go through thousands of invitations a
// few at a time, never holding copies of all of them.
func (s *Service) InvitationIDs() []InviteID {
	s.mu.RLock()
	ids := slices.Collect(maps.Keys(s.state.Invitations))
	s.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// InvitationsByID returns copies of the invitations with the given ids, in
// their order, with current statuses and without their history; ids that
// name no invitation (any more) are left out.
func (s *Service) InvitationsByID(ids []InviteID) []Invitation {
	now := s.opts.Now()
	out := make([]Invitation, 0, len(ids))
	s.mu.RLock()
	for _, id := range ids {
		inv, ok := s.state.Invitations[id]
		if !ok {
			continue
		}
		inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
		inv.History = nil
		out = append(out, inv)
	}
	s.mu.RUnlock()
	return out
}

// Invitation returns one invitation with its history; the error wraps
// ErrNotFound if there is none.
func (s *Service) Invitation(id InviteID) (Invitation, error) {
	s.mu.RLock()
	inv, ok := s.state.Invitations[id]
	s.mu.RUnlock()
	if !ok {
		return Invitation{}, notFound(id)
	}
	inv = inv.Clone()
	inv.Status = inv.StatusAt(s.opts.Now(), s.opts.ReminderBefore)
	return inv, nil
}

func notFound(id InviteID) error {
	return fmt.Errorf("%w: no invitation %s", ErrNotFound, id)
}

// change collects what one operation does: the batch to commit and the
// events to emit once it is committed.
type change struct {
	batch Batch
	// events are told after the commit. Each is about one of
	// batch.Invitations and gets its copy only when it is told, a few at a
	// time: a sync that adopts thousands holds one copy of each.
	events []pendingEvent
	// closing lists the open invitations a sync found gone from Nuki Web.
	closing []InviteID
	// keypad is what a sync listed of keypad codes, kept once it is
	// committed; nil for other changes.
	keypad *keypadListing

	// partSize, when not 0, is the most invitations batch holds: once it
	// is full, the next put moves its invitations and their events into a
	// part of their own (sealed). A sync of thousands is built so, and
	// split hands out its parts for one transaction each.
	partSize int
	sealed   []*change
	partOf   map[InviteID]int // the sealed part of each invitation put
}

// put stages an invitation and the events about it. A code that can no
// longer be used is dropped with it.
func (c *change) put(inv Invitation, now time.Time, types ...EventType) {
	c.putUsed(inv, now, types, nil)
}

// putUsed is put with the guest's new activity-log entries: each becomes a
// used event after the others.
func (c *change) putUsed(inv Invitation, now time.Time, types []EventType, used []LogEntry) {
	if inv.HasCode && !inv.Status.Open() {
		inv.HasCode = false
		c.batch.DeleteCodes = append(c.batch.DeleteCodes, inv.ID)
	}
	if c.partSize > 0 && len(c.batch.Invitations) == c.partSize {
		c.sealed = append(c.sealed, &change{batch: Batch{Invitations: c.batch.Invitations}, events: c.events})
		c.batch.Invitations, c.events = make([]Invitation, 0, c.partSize), nil
	}
	if c.partSize > 0 {
		if c.partOf == nil {
			c.partOf = map[InviteID]int{}
		}
		c.partOf[inv.ID] = len(c.sealed)
	}
	c.batch.Invitations = append(c.batch.Invitations, inv)
	of := len(c.batch.Invitations) - 1
	for _, t := range types {
		if t == EventChanged && len(used) > 0 {
			continue
		}
		c.events = append(c.events, pendingEvent{typ: t, at: now, of: of})
	}
	usedEvent := EventUsed
	if inv.Keypad() {
		usedEvent = EventCodeUsed
	}
	for i := range used {
		c.events = append(c.events, pendingEvent{typ: usedEvent, at: now, of: of, use: &used[i], detail: useDetail(used[i])})
	}
}

// pendingEvent is an Event of a change, its invitation by index into the
// change's batch.
type pendingEvent struct {
	typ    EventType
	at     time.Time
	of     int
	detail string
	use    *LogEntry
}

// notifyChunk is how many events subscribers are told at once.
const notifyChunk = 256

// tell gives subs the events of c, in order, notifyChunk at a time; each
// Event carries its own copy of the invitation, without the history.
func (c *change) tell(subs []Subscriber) {
	for start := 0; start < len(c.events); start += notifyChunk {
		pending := c.events[start:min(start+notifyChunk, len(c.events))]
		events := make([]Event, len(pending))
		for i, p := range pending {
			inv := c.batch.Invitations[p.of]
			inv.History = nil
			events[i] = Event{Type: p.typ, At: p.at, Invitation: inv, Detail: p.detail, Use: p.use}
		}
		for _, sub := range subs {
			sub.InvitationEvents(events)
		}
	}
}

// commit writes c in one transaction, then updates memory and tells the
// subscribers. Call with s.op held. Nothing is written for an empty change.
func (s *Service) commit(ctx context.Context, c *change) error {
	if c.batch.Empty() {
		return nil
	}
	if err := s.store.Commit(ctx, c.batch); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	b := &c.batch
	s.mu.Lock()
	s.state.Apply(b)
	s.seq++
	for _, inv := range b.Invitations {
		s.touched[inv.ID] = s.seq
	}
	subs := slices.Clone(s.subs)
	var sync SyncState
	if len(b.Invitations) > 0 {
		sync = s.syncStateLocked()
	}
	s.mu.Unlock()
	c.tell(subs)
	if len(b.Invitations) > 0 {
		for _, sub := range subs {
			sub.SyncStateChanged(sync)
		}
	}
	return nil
}

// setSync records the outcome of a sync and tells the subscribers.
func (s *Service) setSync(f func(*SyncState)) {
	s.mu.Lock()
	f(&s.sync)
	st := s.syncStateLocked()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	for _, sub := range subs {
		sub.SyncStateChanged(st)
	}
}

// now returns the clock's time in UTC, truncated to the millisecond as Nuki
// reports times.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }
