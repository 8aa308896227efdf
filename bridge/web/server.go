package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Service is what the web server needs of the core; bridge.Service
// satisfies it. The page and the API read the invitations, the locks and
// the sync state, carry out the invitation commands, and follow the
// Service's events for the event stream.
type Service interface {
	// Invitations returns the invitations f selects, without their
	// history; Invitation returns one with it, or an error matching
	// bridge.ErrNotFound.
	Invitations(f bridge.Filter) []bridge.Invitation
	Invitation(id bridge.InviteID) (bridge.Invitation, error)
	// Locks returns the account's locks, sorted by name.
	Locks() []bridge.Lock

	Create(ctx context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error)
	// CheckCreate makes the checks Create makes before it asks Nuki Web,
	// making nothing: the dry run of a bulk create.
	CheckCreate(r bridge.CreateRequest) error
	Resend(ctx context.Context, id bridge.InviteID, o bridge.ResendOptions) (bridge.Invitation, error)
	Revoke(ctx context.Context, id bridge.InviteID, actor string) (bridge.Invitation, error)
	// RevealCode is the one action that hands out a secret; it is recorded
	// in the invitation's history.
	RevealCode(ctx context.Context, id bridge.InviteID, actor string) (bridge.Code, error)

	// UnmanagedKeypadCodes returns the keypad codes made elsewhere that
	// the last sync listed, without their codes. AdoptKeypadCode takes
	// one on; an error matching bridge.ErrNotFound when the last sync
	// listed no such code.
	UnmanagedKeypadCodes() []bridge.Auth
	AdoptKeypadCode(ctx context.Context, smartlockID int64, authID, actor string) (bridge.Invitation, error)

	SyncState() bridge.SyncState
	// RequestSync asks for a sync soon and never blocks.
	RequestSync()
	// ConfirmHeldSync carries out a held sync; bridge.ErrConflict when
	// none is.
	ConfirmHeldSync() error
	// Subscribe adds a subscriber of the Service's events until the
	// returned func is called.
	Subscribe(sub bridge.Subscriber) (unsubscribe func())
}

var _ Service = (*bridge.Service)(nil)

// Options configures a Server. Service is required; zero values take the
// defaults noted.
type Options struct {
	Service Service

	// Listener to serve on; when nil Run listens on Addr.
	Listener net.Listener
	// Addr is host:port for Run when Listener is nil; "127.0.0.1:8099".
	Addr string

	// TrustedProxy, when set, is the only peer IP served (the add-on:
	// "172.30.32.2"), and its X-Remote-User-Name header names the actor.
	TrustedProxy string
	// APIToken, when set and TrustedProxy is not, is required as a bearer
	// token (or the session cookie it grants) on the API and the page.
	APIToken bridge.Secret

	// AllowedHosts are host names (a port, if given, is ignored) the API
	// and the page answer to besides localhost, 127.0.0.1, [::1] and the
	// address listened on; any IP address when that is 0.0.0.0 or [::].
	// Other Host headers are refused with 421, which defeats DNS
	// rebinding. Requests from TrustedProxy carry the browser's own Host
	// and are not checked. Extra handlers and /healthz answer to any host.
	AllowedHosts []string

	// ExposeCodes shows the "Show code" button; the Service decides anyway.
	ExposeCodes bool

	// Backup, when set, writes a consistent copy of the database to a new
	// file at path (bolt.Store.BackupFile); GET /api/v1/backup then offers
	// it as a download. Nil: that route answers 403.
	Backup func(path string) error

	// Diagnostics, when set, writes the diagnostics bundle to w: a JSON
	// document with every secret and personal datum removed. GET
	// /api/v1/diagnostics then offers it as a download. Nil: that route
	// answers 404.
	Diagnostics func(w io.Writer) error

	// Extra handlers served next to ours, keyed by ServeMux pattern
	// ("POST /webhook/nuki"). They bypass access control.
	Extra map[string]http.Handler

	// MaxConns caps the connections Run serves at once; 256. At the cap, a
	// new connection closes the one that has waited longest for its
	// request's headers or body; when every connection is busy being
	// answered, the new one is closed instead.
	MaxConns int
	// BodyTimeout bounds reading a request body, Extra handlers' too; 10s.
	BodyTimeout time.Duration

	// ShutdownTimeout bounds the graceful shutdown when Run's context ends; 5s.
	ShutdownTimeout time.Duration
	// Heartbeat is how often an idle event stream gets a keep-alive; 25s.
	Heartbeat time.Duration

	Now    func() time.Time // the clock; time.Now
	Logger *slog.Logger
}

// Server is the HTTP server. Create it with New; it is safe for concurrent
// use.
type Server struct {
	svc     Service
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	hub     *hub
	hosts   hostPolicy
	handler http.Handler
	routes  []route
	page    *page

	stopping atomic.Bool
	closing  chan struct{} // closed when Run begins shutting down
}

// New checks the options and builds the Server and its routes. It starts
// nothing; call Run to serve, or use Handler in tests.
func New(opts Options) (*Server, error) {
	if opts.Service == nil {
		return nil, errors.New("web: Options.Service is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8099"
	}
	if opts.TrustedProxy != "" && net.ParseIP(opts.TrustedProxy) == nil {
		return nil, fmt.Errorf("web: trusted proxy %q is not an IP address", opts.TrustedProxy)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 256
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = 10 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 25 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		svc:     opts.Service,
		opts:    opts,
		log:     opts.Logger.With("component", "web"),
		now:     opts.Now,
		closing: make(chan struct{}),
	}
	bound := opts.Addr
	if opts.Listener != nil {
		bound = opts.Listener.Addr().String()
	}
	hosts, err := newHostPolicy(bound, opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	s.hosts = hosts
	s.hub = newHub(opts.Service)
	p, err := newPage()
	if err != nil {
		return nil, err
	}
	s.page = p
	s.routes = s.routeTable()
	h, err := s.buildHandler()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Handler returns the server's whole handler, access control included.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves until ctx ends, then ends the event streams and shuts down
// gracefully within ShutdownTimeout. It serves at most MaxConns connections
// at once (see Options.MaxConns). It returns nil after a clean shutdown and
// the listener's error otherwise.
func (s *Server) Run(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.opts.Addr)
		if err != nil {
			return fmt.Errorf("web: listen on %s: %w", s.opts.Addr, err)
		}
	}
	limited := newConnLimiter(ln, s.opts.MaxConns, s.log)
	// No ReadTimeout or WriteTimeout: they would end the event streams.
	// bodyDeadline bounds each body instead.
	srv := &http.Server{
		Handler:           s.bodyDeadline(s.handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnState:         limited.track,
		ConnContext:       withConn,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("serving HTTP", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()

	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	close(s.closing)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	s.log.Info("HTTP server stopped")
	return nil
}
