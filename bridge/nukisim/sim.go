package nukisim

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Options configures a Sim. The zero value is a simulator that accepts any
// bearer token, delivers no webhooks and behaves like the real cloud: writes
// are carried out by the lock 2s later, locks sync once a day.
type Options struct {
	// Token is the API token requests must present as "Authorization:
	// Bearer …"; another (or none) gets 401 with Nuki's error body. Empty:
	// any bearer token is accepted.
	Token bridge.Secret
	// Now is the clock for every date the simulator writes and for the lock
	// model (LockDelay, LockSyncInterval); time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// WebhookURL receives the Advanced API's AuthCreation outcomes and a
	// DEVICE_AUTHS notification whenever a lock carries out the create,
	// modify or delete of an authorization. Empty: none are sent.
	WebhookURL string
	// WebhookSecret signs webhook bodies (X-Nuki-Signature-SHA256).
	WebhookSecret bridge.Secret
	// HTTPClient delivers webhooks; one with a 10s timeout.
	HTTPClient *http.Client
	// WebhookDelay is how long, in real time, the outcome of an advanced
	// request waits to be posted once its locks have answered; 0 posts it
	// right away (in the background).
	WebhookDelay time.Duration
	// DeviceAuthWebhooks has no effect: DEVICE_AUTHS notifications are sent
	// whenever WebhookURL is set, as Nuki sends them to every subscriber.
	//
	// Deprecated: kept so that older callers compile.
	DeviceAuthWebhooks bool

	// Instant makes the locks carry out every authorization write at once,
	// before the request that asks for it is answered (an offline lock still
	// waits until it is back online, then does it at once), and sync as soon
	// as they are used (Use). Only for a test that truly needs a write to be
	// visible in the very next answer: the real cloud never behaves so.
	Instant bool
	// LockDelay is how long (on the Now clock) an online lock takes to carry
	// out a pending write, or to sync when asked; 0 (or less) means 2s. For no
	// delay at all, see Instant.
	LockDelay time.Duration
	// LockSyncInterval is how often (on the Now clock) each lock syncs on its
	// own, counted from the lock's creation; 0 (or less) means 24h.
	LockSyncInterval time.Duration
	// IgnoreUserPaging makes GET /account/user ignore offset and limit and
	// answer every user each time, as docs.nuki.io says the API does.
	IgnoreUserPaging bool
	// WebhookRetry is the real-time wait before the first repeat of a
	// webhook delivery answered non-2xx or failed; it doubles each time, up
	// to five attempts in all. 0 (or less) means 1s.
	WebhookRetry time.Duration
}

// Email is an invitation email Nuki Web would have sent after a standard
// app authorization create, once the lock took the authorization.
type Email struct {
	To            string    `json:"to"`
	AccountUserID int64     `json:"accountUserId"`
	SmartlockID   int64     `json:"smartlockId"`
	AuthID        string    `json:"authId"` // the string id of the new authorization
	Code          string    `json:"code"`   // the simulated 9-digit invite code
	At            time.Time `json:"at"`     // when the lock took it, on the Now clock
}

// Delivery is one attempt at posting a webhook. A delivery not answered 2xx
// is attempted again (see Options.WebhookRetry), each attempt recorded.
type Delivery struct {
	Kind      string    `json:"kind"`      // "AuthCreation" or "DEVICE_AUTHS"
	RequestID string    `json:"requestId"` // AuthCreation only
	Attempt   int       `json:"attempt"`   // 1 for the first post of a webhook
	Status    int       `json:"status"`    // the receiver's answer, 0 if none
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"` // on the Now clock
}

// Fault makes matching API requests fail. A request matches when Method is
// empty or equal and its path starts with Path. The first matching fault with
// requests left applies: it waits Latency (or until the client goes away),
// then drops the connection without an answer (Drop), or answers Status with
// Nuki's error body and Retry-After (seconds or an HTTP date, verbatim) when
// set, or, with Status 0, lets the request through.
type Fault struct {
	Method     string        `json:"method,omitempty"`
	Path       string        `json:"path,omitempty"`
	Status     int           `json:"status,omitempty"`
	RetryAfter string        `json:"retryAfter,omitempty"`
	Latency    time.Duration `json:"latency,omitempty"`
	Drop       bool          `json:"drop,omitempty"`
	Times      int           `json:"times,omitempty"` // requests it applies to; 0 = until ClearFaults
}

// Sim is a simulated Nuki Web account. Create it with New; serve it with
// ServeHTTP (e.g. under httptest.NewServer), ListenAndServe or Run; Close
// stops webhook deliveries and the background catch-up.
type Sim struct {
	opts Options
	log  *slog.Logger
	api  *http.ServeMux
	ctl  *http.ServeMux

	mu       sync.Mutex
	state    state
	faults   []*activeFault
	calls    int
	emails   []Email
	webhooks []Delivery
	outbox   []outgoing // webhooks to send once mu is released

	closed bool // guarded by mu
	ctx    context.Context
	cancel context.CancelFunc // ends ctx on Close
	wg     sync.WaitGroup
}

type activeFault struct {
	Fault
	left int // -1: unlimited
}

// New returns an empty simulator: no locks, users or authorizations.
func New(opts Options) *Sim {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.LockDelay <= 0 {
		opts.LockDelay = defaultLockDelay
	}
	if opts.LockSyncInterval <= 0 {
		opts.LockSyncInterval = defaultLockSyncInterval
	}
	if opts.WebhookRetry <= 0 {
		opts.WebhookRetry = defaultWebhookRetry
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		opts:   opts,
		log:    opts.Logger.With("component", "nukisim"),
		state:  newState(opts.LockSyncInterval),
		ctx:    ctx,
		cancel: cancel,
	}
	s.api = http.NewServeMux()
	for _, rt := range s.routes() {
		s.api.HandleFunc(rt.Method+" "+rt.Pattern, rt.handler)
	}
	s.api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "The server has not found anything matching the request URI")
	})
	s.ctl = s.controlMux()
	return s
}

// acquire locks s.mu and lets the locks catch up with the clock.
func (s *Sim) acquire() {
	s.mu.Lock()
	s.catchUp()
}

// release carries out at once what the request wrote when Options.Instant
// is set, unlocks s.mu and sends the webhooks queued meanwhile.
func (s *Sim) release() {
	if s.opts.Instant {
		s.catchUp()
	}
	out := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	for _, o := range out {
		s.deliver(o)
	}
}

// ServeHTTP serves the API and, under /_sim/, the control endpoints. Every
// API request first lets the locks catch up with the clock (see Settle).
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.ctl.ServeHTTP(w, r)
		return
	}
	s.Settle()
	s.mu.Lock()
	s.calls++
	f := s.matchFault(r)
	s.mu.Unlock()
	if f != nil && !s.applyFault(w, r, f) {
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Not authorized")
		return
	}
	s.api.ServeHTTP(w, r)
}

func (s *Sim) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return false
	}
	if s.opts.Token.IsZero() {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.Token.Reveal())) == 1
}

// matchFault returns the fault for r, consuming one of its requests. The
// caller holds s.mu.
func (s *Sim) matchFault(r *http.Request) *Fault {
	for i, f := range s.faults {
		if (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) || !strings.HasPrefix(r.URL.Path, f.Path) {
			continue
		}
		out := f.Fault
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// applyFault carries out f and reports whether the request goes on.
func (s *Sim) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	if f.Drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return false
	}
	if f.Status == 0 {
		return true
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeError(w, f.Status, "Injected fault")
	return false
}

// ListenAndServe listens on addr (e.g. "127.0.0.1:0") and serves s in the
// background until ctx ends, then shuts the server down and calls Close.
// Meanwhile it settles every 200ms of real time, so that pending writes are
// carried out without waiting for a request. It returns the address
// actually listened on once listening.
func (s *Sim) ListenAndServe(ctx context.Context, addr string) (string, error) {
	actual, _, err := s.serve(ctx, addr)
	return actual, err
}

// Run serves s on addr until ctx ends, settling every 200ms of real time as
// ListenAndServe does, then shuts down, calls Close and returns nil. It
// fails only when it cannot listen.
func (s *Sim) Run(ctx context.Context, addr string) error {
	actual, done, err := s.serve(ctx, addr)
	if err != nil {
		return err
	}
	s.log.Info("Nuki Web simulator listening", "addr", actual)
	<-done
	return nil
}

func (s *Sim) serve(ctx context.Context, addr string) (string, <-chan struct{}, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("nukisim: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("simulator stopped serving", "err", err)
		}
	}()
	s.spawn(func() {
		t := time.NewTicker(settleEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.Settle()
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			}
		}
	})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			_ = srv.Close()
		}
		s.Close()
	}()
	return ln.Addr().String(), done, nil
}

// Close stops the background catch-up of a served simulator, cancels
// webhook deliveries still waiting (for WebhookDelay or a retry) and waits
// for those posting to end (the HTTP client's timeout bounds them). The handler keeps answering API
// requests afterwards, and Settle still works, but no more webhooks are sent.
// Close may be called more than once.
func (s *Sim) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
