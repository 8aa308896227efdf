package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// realBridge is the real core behind a test server: the Nuki Web simulator
// (its locks carry out writes at once) reached through the real client, its
// webhooks received by the real handler, a bbolt store in a temporary
// directory, and the Service, all on the test's clock.
type realBridge struct {
	t      testing.TB
	sim    *nukisim.Sim
	svc    *bridge.Service
	clock  *bridgetest.Clock
	db     *bolt.Store
	client *nukiweb.Client
	opts   bridge.Options

	// watched is the Service as the last server built sees it.
	watched *watchedService

	mu     sync.Mutex
	onNuki func(*http.Request) // called before each request to Nuki Web
}

// The locks every realBridge has.
var (
	frontDoor  = bridge.Lock{ID: 11, Name: "Front door", Type: 4}
	gardenGate = bridge.Lock{ID: 22, Name: "Garden gate", Type: 4}
)

// newRealServer returns a server over a new realBridge; see realBridge.server.
func newRealServer(t testing.TB, opts bridge.Options, tweak func(*web.Options)) (*web.Server, *realBridge) {
	t.Helper()
	rb := newRealBridge(t, opts)
	return rb.server(tweak), rb
}

// fakeNow is when the tests happen: the test clock's time.
var fakeNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// newRealBridge returns a realBridge with the locks frontDoor and
// gardenGate, synced once. The clock stands at fakeNow.
func newRealBridge(t testing.TB, opts bridge.Options) *realBridge {
	t.Helper()
	return newRealBridgeAt(t, opts, fakeNow)
}

// newRealBridgeAt is newRealBridge with the clock at start.
func newRealBridgeAt(t testing.TB, opts bridge.Options, start time.Time) *realBridge {
	t.Helper()
	const token, secret = bridge.Secret("sim-token"), bridge.Secret("sim-webhook-secret")
	rb := &realBridge{t: t, clock: bridgetest.NewClock(start)}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "nuki-invites.db"), bolt.Options{Now: rb.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // last: the simulator's webhooks have stopped
	rb.db = db
	hooks := httptest.NewServer(nukiweb.NewWebhookHandler(secret, currentService{rb}, nukiweb.WebhookOptions{Now: rb.clock.Now}))
	t.Cleanup(hooks.Close)
	rb.sim = nukisim.New(nukisim.Options{Token: token, Now: rb.clock.Now, Instant: true,
		WebhookURL: hooks.URL, WebhookSecret: secret, WebhookRetry: time.Millisecond})
	t.Cleanup(rb.sim.Close)
	rb.sim.AddLock(frontDoor)
	rb.sim.AddLock(gardenGate)
	simSrv := httptest.NewServer(rb.sim)
	t.Cleanup(simSrv.Close)

	rb.client = nukiweb.New(simSrv.URL, token, nukiweb.Options{
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: hookedTransport{rb}},
		Now:        rb.clock.Now,
		Sleep:      func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	opts.Now = rb.clock.Now
	rb.opts = opts
	rb.open()
	rb.sync()
	return rb
}

// open opens a new Service on the store, as after a restart.
func (rb *realBridge) open() {
	rb.t.Helper()
	svc := bridge.NewService(rb.db, rb.client, nil, rb.opts)
	if err := svc.Open(context.Background()); err != nil {
		rb.t.Fatal(err)
	}
	rb.mu.Lock()
	rb.svc = svc
	rb.mu.Unlock()
}

// currentService passes the simulator's webhooks to the Service open now.
type currentService struct{ rb *realBridge }

func (c currentService) service() *bridge.Service {
	c.rb.mu.Lock()
	defer c.rb.mu.Unlock()
	return c.rb.svc
}

func (c currentService) HandleAuthCreation(ctx context.Context, r bridge.AuthCreation) error {
	return c.service().HandleAuthCreation(ctx, r)
}

func (c currentService) RequestSync() { c.service().RequestSync() }

// store writes invitations as they are to the store, bookkeeping and all,
// and opens a new Service on it: as if a backup holding them had been
// restored. Call it before server.
func (rb *realBridge) store(invs ...bridge.Invitation) {
	rb.t.Helper()
	rb.storeBatch(bridge.Batch{Invitations: invs})
}

// storeBatch is store with codes (or anything else a batch holds). An
// invitation without an ID gets the one of its lock and user.
func (rb *realBridge) storeBatch(b bridge.Batch) {
	rb.t.Helper()
	for i := range b.Invitations {
		if b.Invitations[i].ID == "" {
			b.Invitations[i].ID = bridge.MakeInviteID(b.Invitations[i].SmartlockID, b.Invitations[i].AccountUserID)
		}
	}
	if err := rb.db.Commit(context.Background(), b); err != nil {
		rb.t.Fatal(err)
	}
	rb.open()
}

// pageGuests are the invitations most of the page's tests show, as a
// restored backup holds them: Alice pending on the front door (sent 2 h ago
// by MQTT), Bob accepted on the garden gate and Carol expired on the front
// door 2 h ago, after one re-send.
func pageGuests() []bridge.Invitation {
	return []bridge.Invitation{
		{SmartlockID: frontDoor.ID, AccountUserID: 1, Name: "Alice", Email: "alice@example.com", LockName: frontDoor.Name,
			Delivery: bridge.DeliveryNuki, Status: bridge.StatusPending, Send: 1, SentAt: fakeNow.Add(-2 * time.Hour),
			ConfirmedAt: fakeNow.Add(-2 * time.Hour), ExpiresAt: fakeNow.Add(46 * time.Hour),
			History: []bridge.HistoryEntry{{At: fakeNow.Add(-2 * time.Hour), Event: bridge.EventCreated, Actor: "mqtt"}}},
		{SmartlockID: gardenGate.ID, AccountUserID: 2, Name: "Bob", Email: "bob@example.com", LockName: gardenGate.Name,
			Delivery: bridge.DeliveryNuki, Status: bridge.StatusAccepted, Send: 1, SentAt: fakeNow.Add(-30 * time.Hour),
			ConfirmedAt: fakeNow.Add(-30 * time.Hour), ExpiresAt: fakeNow.Add(18 * time.Hour),
			AcceptedAt: fakeNow.Add(-time.Hour), AcceptedSignal: bridge.SignalLockCount},
		{SmartlockID: frontDoor.ID, AccountUserID: 3, Name: "Carol", Email: "carol@example.com", LockName: frontDoor.Name,
			Delivery: bridge.DeliveryNuki, Status: bridge.StatusExpired, Send: 2, ResendCount: 1, SentAt: fakeNow.Add(-50 * time.Hour),
			ConfirmedAt: fakeNow.Add(-50 * time.Hour), ExpiresAt: fakeNow.Add(-2 * time.Hour)},
	}
}

// newPageBridge returns a realBridge that holds what b holds (see
// storeBatch), last synced with Nuki Web 3 minutes before fakeNow, where
// its clock stands.
func newPageBridge(t *testing.T, opts bridge.Options, b bridge.Batch) *realBridge {
	t.Helper()
	rb := newRealBridgeAt(t, opts, fakeNow.Add(-3*time.Minute))
	rb.storeBatch(b)
	rb.sync()
	rb.clock.Advance(3 * time.Minute)
	return rb
}

// newPageServer returns a server over a newPageBridge holding pageGuests
// and invs.
func newPageServer(t *testing.T, tweak func(*web.Options), invs ...bridge.Invitation) (*web.Server, *realBridge) {
	t.Helper()
	rb := newPageBridge(t, bridge.Options{}, bridge.Batch{Invitations: append(pageGuests(), invs...)})
	return rb.server(tweak), rb
}

// server returns a server over the Service. Every answer is checked against
// openapi.json.
func (rb *realBridge) server(tweak func(*web.Options)) *web.Server {
	rb.t.Helper()
	rb.watched = &watchedService{Service: rb.svc}
	// httptest.NewRequest's requests name example.com.
	opts := web.Options{Service: rb.watched, AllowedHosts: []string{"example.com"}, Now: rb.clock.Now}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := web.New(opts)
	if err != nil {
		rb.t.Fatal(err)
	}
	web.WrapHandler(s, checkAnswers(rb.t, opts.Extra))
	return s
}

// sync syncs the Service with the simulator.
func (rb *realBridge) sync() {
	rb.t.Helper()
	if err := rb.svc.Sync(context.Background()); err != nil {
		rb.t.Fatal(err)
	}
}

// guest adds an account user with an app authorization on each lock, as if
// made in Nuki Web, and returns the user; the next sync adopts them.
func (rb *realBridge) guest(name, email string, locks ...bridge.Lock) bridge.User {
	rb.t.Helper()
	u, err := rb.sim.AddUser(bridge.User{Name: name, Email: email, Language: "en"})
	if err != nil {
		rb.t.Fatal(err)
	}
	for _, l := range locks {
		if _, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: l.ID, AccountUserID: u.ID, Type: bridge.AuthTypeApp,
			Name: name, Enabled: true}); err != nil {
			rb.t.Fatal(err)
		}
	}
	return u
}

// watchNuki calls f before each request the client sends to Nuki Web; f
// may hold the request.
func (rb *realBridge) watchNuki(f func(*http.Request)) {
	rb.mu.Lock()
	rb.onNuki = f
	rb.mu.Unlock()
}

// hookedTransport lets a test see and hold the client's requests.
type hookedTransport struct{ rb *realBridge }

func (h hookedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.rb.mu.Lock()
	f := h.rb.onNuki
	h.rb.mu.Unlock()
	if f != nil {
		f(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// watchedService is the Service as a server sees it, counting what a test
// cannot see otherwise: the requests for a sync, which only a running Run
// loop would act on, and the subscribers.
type watchedService struct {
	*bridge.Service
	syncRequests atomic.Int32

	mu   sync.Mutex
	subs []bridge.Subscriber
}

func (w *watchedService) RequestSync() {
	w.syncRequests.Add(1)
	w.Service.RequestSync()
}

func (w *watchedService) Subscribe(sub bridge.Subscriber) func() {
	w.mu.Lock()
	w.subs = append(w.subs, sub)
	w.mu.Unlock()
	unsubscribe := w.Service.Subscribe(sub)
	return func() {
		w.mu.Lock()
		w.subs = slices.DeleteFunc(w.subs, func(x bridge.Subscriber) bool { return x == sub })
		w.mu.Unlock()
		unsubscribe()
	}
}

// subscribers returns the subscribers there are now.
func (w *watchedService) subscribers() []bridge.Subscriber {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.subs)
}
