package bridge

import (
	"context"
	"errors"
	"log/slog"
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

	Now    func() time.Time // the clock; time.Now
	Logger *slog.Logger
}

// CreateRequest asks for one invitation per lock.
type CreateRequest struct {
	RequestID     string   `json:"request_id"` // optional; the same id never creates twice
	Email         string   `json:"email"`
	Name          string   `json:"name"`
	Language      string   `json:"language"` // en de es fr it nl cs sk; default en
	SmartlockIDs  []int64  `json:"smartlock_ids"`
	Delivery      Delivery `json:"delivery"` // default nuki
	RemoteAllowed bool     `json:"remote_allowed"`
	Access        Access   `json:"-"`
	Actor         string   `json:"-"`
}

// ResendOptions tunes a re-send. The zero value re-sends with the
// invitation's own delivery.
type ResendOptions struct {
	Delivery Delivery // "" keeps the invitation's delivery
	Actor    string
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

	op sync.Mutex // serialises everything that changes state

	mu    sync.RWMutex // guards the fields below
	state State
	sync  SyncState
	subs  []Subscriber

	syncNow chan struct{}
}

var errNotYet = errors.New("not implemented yet")

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
	if opts.AutoResendMax <= 0 {
		opts.AutoResendMax = 2
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
	}
}

// Open loads the stored state.
func (s *Service) Open(ctx context.Context) error { return errNotYet }

// Subscribe adds a subscriber; the returned func removes it.
func (s *Service) Subscribe(sub Subscriber) (unsubscribe func()) { return func() {} }

// Sync reads Nuki Web, writes what changed in one transaction and tells the
// subscribers. A sync that finds nothing new writes nothing and emits nothing;
// a failed one changes nothing and records why in the SyncState.
func (s *Service) Sync(ctx context.Context) error { return errNotYet }

// RequestSync asks the Run loop for a sync soon; it never blocks.
func (s *Service) RequestSync() {
	select {
	case s.syncNow <- struct{}{}:
	default:
	}
}

// Run syncs at start, then every interval and whenever RequestSync is called,
// until ctx ends; it returns nil then.
func (s *Service) Run(ctx context.Context, interval time.Duration) error { return errNotYet }

// SyncState returns the bridge's own state with current counts.
func (s *Service) SyncState() SyncState { return SyncState{} }

// Locks returns the account's locks, sorted by name.
func (s *Service) Locks() []Lock { return nil }

// Invitations returns the invitations matching f, with current statuses,
// sorted by expiry (newest sending first within the same expiry).
func (s *Service) Invitations(f Filter) []Invitation { return nil }

// Invitation returns one invitation with its history; ErrNotFound if absent.
func (s *Service) Invitation(id InviteID) (Invitation, error) { return Invitation{}, errNotYet }

// Create finds or creates the account user and gives them an app key on each
// lock, delivered by Nuki's email or (custom) by ours. The same RequestID
// twice returns the first result and creates nothing more. Errors wrap
// ErrInvalid, ErrDisabled or a *NukiError.
func (s *Service) Create(ctx context.Context, r CreateRequest) ([]Invitation, error) {
	return nil, errNotYet
}

// Resend deletes the authorization and creates it again, keeping the
// invitation id and restarting its validity. Refused (ErrConflict) for
// accepted or revoked invitations and within the cool-down.
func (s *Service) Resend(ctx context.Context, id InviteID, o ResendOptions) (Invitation, error) {
	return Invitation{}, errNotYet
}

// Revoke deletes the authorization; the invitation becomes revoked.
func (s *Service) Revoke(ctx context.Context, id InviteID, actor string) (Invitation, error) {
	return Invitation{}, errNotYet
}

// RevealCode returns the invite code and records who asked. ErrDisabled unless
// ExposeCodes; ErrNotFound when no usable code is stored.
func (s *Service) RevealCode(ctx context.Context, id InviteID, actor string) (Code, error) {
	return Code{}, errNotYet
}

// HandleAuthCreation applies the outcome of an advanced create request. An
// unknown or already handled request id returns ErrNotFound and changes
// nothing.
func (s *Service) HandleAuthCreation(ctx context.Context, r AuthCreation) error { return errNotYet }

// Tick moves invitations across time-based statuses, sends due reminders,
// makes due automatic re-sends and retries failed ones. The scheduler calls it.
func (s *Service) Tick(ctx context.Context) error { return errNotYet }
