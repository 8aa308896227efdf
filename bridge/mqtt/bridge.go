package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Actor is recorded in an invitation's history for actions asked over MQTT.
const Actor = "mqtt"

// Service is what the Bridge needs of *bridge.Service: it reads the
// invitations (all of them a batch at a time, with InvitationIDs and
// InvitationsByID), the locks, the sync state and the keypad codes made
// elsewhere, and carries out the commands it takes. The commands' errors wrap bridge.ErrNotFound, ErrInvalid,
// ErrConflict, ErrDisabled or a *bridge.NukiError.
type Service interface {
	Invitations(f bridge.Filter) []bridge.Invitation
	InvitationIDs() []bridge.InviteID
	InvitationsByID(ids []bridge.InviteID) []bridge.Invitation
	Locks() []bridge.Lock
	SyncState() bridge.SyncState
	RequestSync()
	ConfirmHeldSync() error
	Create(ctx context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error)
	Resend(ctx context.Context, id bridge.InviteID, o bridge.ResendOptions) (bridge.Invitation, error)
	Revoke(ctx context.Context, id bridge.InviteID, actor string) (bridge.Invitation, error)
	RevealCode(ctx context.Context, id bridge.InviteID, actor string) (bridge.Code, error)
	UnmanagedKeypadCodes() []bridge.Auth
	AdoptKeypadCode(ctx context.Context, smartlockID int64, authID string, actor string) (bridge.Invitation, error)
}

// DiscoveryStore remembers which discovery topics were published, with a
// hash of each payload, across restarts (the bbolt store implements it).
// PublishedDiscovery returns a map owned by the caller.
type DiscoveryStore interface {
	PublishedDiscovery(ctx context.Context) (map[string]string, error)
	SetPublishedDiscovery(ctx context.Context, put map[string]string, del []string) error
}

var (
	_ Service           = (*bridge.Service)(nil)
	_ bridge.Subscriber = (*Bridge)(nil)
)

// Options configures a Bridge. Zero values take the defaults noted.
type Options struct {
	URL             string        // tcp://host:1883, ssl:// or mqtts:// for TLS, ws(s)://
	Username        string        // empty: anonymous
	Password        bridge.Secret // sent to the broker only
	ClientID        string        // stable and unique per install; DefaultClientID()
	CAFile          string        // PEM file of the CA that signed the broker's certificate (TLS only)
	Insecure        bool          // skip TLS certificate verification
	BaseTopic       string        // "nuki_invites"
	DiscoveryPrefix string        // "homeassistant"
	Retention       time.Duration // closed invitations stay in Home Assistant this long; 168h
	Version         string        // the software version shown on the devices; "dev"
	// ConfigurationURL is the page every device links to in Home
	// Assistant (cu): an http, https or homeassistant:// URL, such as
	// homeassistant://hassio/ingress/<slug> for the add-on's page. Empty:
	// no link.
	ConfigurationURL string

	Now    func() time.Time // the clock; time.Now
	Logger *slog.Logger     // discarded when nil
	// BirthDelay returns how long to wait after Home Assistant's birth
	// message before republishing; a random 1–5 s by default, so that many
	// bridges do not answer at the same instant.
	BirthDelay func() time.Duration
}

// DefaultClientID returns "nuki-invites-<hostname>", stable for one machine.
func DefaultClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return "nuki-invites-" + slugify(host)
}

// Timings of the loop; none of them is part of any contract.
const (
	publishTimeout  = 20 * time.Second // a batch of publishes must be acknowledged within this
	tokenTimeout    = 10 * time.Second // subscribe, unsubscribe and single publishes
	retentionCheck  = time.Minute      // how often closed invitations are checked for retention
	scanGrace       = 100 * time.Millisecond
	commandTimeout  = 2 * time.Minute
	inboxLimit      = 10000
	shutdownQuiesce = 250 // ms paho may take to finish work on Disconnect
	// reconnectEvery is the longest wait between two connection attempts,
	// at start-up and after a drop, so that the bridge is back within a few
	// seconds of the broker whatever the outage.
	reconnectEvery = 2 * time.Second
	// connectFailureLog is how often a broker that stays away is logged
	// as a warning; the attempts in between are logged at debug level.
	connectFailureLog = time.Minute
)

// Bridge publishes the Service's invitations to Home Assistant and turns MQTT
// commands into Service calls. Create it with New, subscribe it to the
// Service, then call Run once.
type Bridge struct {
	svc    Service
	store  DiscoveryStore
	opts   Options
	log    *slog.Logger
	topics topics

	started atomic.Bool
	client  paho.Client // set by Run before any goroutine uses it

	inbox     inbox
	connected chan struct{} // OnConnect → loop: subscribed and online
	birth     chan struct{} // Home Assistant said "online"
	commands  chan command  // paho handler → command worker
	refusals  chan refusal  // paho handler → answer publisher
	lost      chan struct{} // paho handler → answer publisher: unanswered grew
	// unanswered counts commands that found even refusals full.
	unanswered atomic.Int64
	// connectFailures is the outage as paho reports it, for quiet logging.
	connectFailures failureLog

	// Owned by the Run goroutine.
	discovery map[string]digest // discovery topic → payload hash as on the broker (zero: unknown)
	states    map[string]digest // state topic → payload hash as on the broker (zero: unknown)
	configs   map[bridge.InviteID]configKey
	inflight  []pub // a batch spill sent and the next flush or spill waits for
	ready     bool  // the start-up scan is done
	synced    bool  // a sync has finished: the Service knows the keypad codes made elsewhere
}

// New returns a Bridge. svc and store are required; the zero Options fields
// take their defaults.
func New(svc Service, store DiscoveryStore, opts Options) *Bridge {
	if opts.URL == "" {
		opts.URL = "tcp://127.0.0.1:1883"
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID()
	}
	if opts.BaseTopic == "" {
		opts.BaseTopic = "nuki_invites"
	}
	if opts.DiscoveryPrefix == "" {
		opts.DiscoveryPrefix = "homeassistant"
	}
	if opts.Retention <= 0 {
		opts.Retention = 168 * time.Hour
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BirthDelay == nil {
		opts.BirthDelay = func() time.Duration { return time.Second + rand.N(4*time.Second) }
	}
	return &Bridge{
		svc: svc, store: store, opts: opts,
		log:       opts.Logger.With("component", "mqtt"),
		topics:    newTopics(opts.BaseTopic, opts.DiscoveryPrefix),
		inbox:     inbox{wake: make(chan struct{}, 1)},
		connected: make(chan struct{}, 1),
		birth:     make(chan struct{}, 1),
		commands:  make(chan command, commandQueue),
		refusals:  make(chan refusal, refusalQueue),
		lost:      make(chan struct{}, 1),
		discovery: make(map[string]digest),
		states:    make(map[string]digest),
		configs:   make(map[bridge.InviteID]configKey),
	}
}

// InvitationEvents queues events for the Run loop; it never blocks.
func (b *Bridge) InvitationEvents(events []bridge.Event) { b.inbox.addEvents(events) }

// SyncStateChanged queues the new state for the Run loop; it never blocks.
// The loop then also re-checks every invitation's visibility.
func (b *Bridge) SyncStateChanged(state bridge.SyncState) { b.inbox.setSync(state) }

// Run connects to the broker (retrying until it answers), publishes
// availability, discovery and states, serves commands, and keeps all of it
// current until ctx ends. Then it publishes "offline", disconnects and
// returns nil. It returns an error only when it cannot start: the discovery
// store cannot be read, the TLS settings or the configuration URL are
// wrong, or Run was called before.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("mqtt: Run may be called only once per Bridge")
	}
	if err := checkConfigurationURL(b.opts.ConfigurationURL); err != nil {
		return err
	}
	stored, err := b.store.PublishedDiscovery(ctx)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	known := make(map[string]digest, len(stored))
	for topic, h := range stored {
		known[topic] = parseDigest(h)
	}
	opts, err := b.clientOptions()
	if err != nil {
		return err
	}
	b.client = paho.NewClient(opts)
	b.log.Info("connecting to the MQTT broker", "broker", redactURL(b.opts.URL), "client_id", b.opts.ClientID,
		"base_topic", b.topics.base, "discovery_prefix", b.topics.prefix)
	b.client.Connect() // with ConnectRetry it completes only once connected; OnConnect reports that

	workCtx, stopWork := context.WithCancel(ctx)
	var worker sync.WaitGroup
	worker.Go(func() { b.serveCommands(workCtx) })
	worker.Go(func() { b.serveAnswers(workCtx) })
	defer func() {
		stopWork()
		worker.Wait()
		b.inbox.close()
		b.shutdown()
	}()

	retention := time.NewTicker(retentionCheck)
	defer retention.Stop()
	var birthDue <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			// What is queued already still goes out before "offline".
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			b.drain(final)
			cancel()
			return nil
		case <-b.connected:
			if b.ready {
				known = maps.Clone(b.discovery)
			}
			complete := b.learn(ctx, known)
			known = nil // b.discovery holds it now
			// Unsure what a restarted broker still holds: send every state.
			b.reconcile(ctx, b.svc.SyncState(), b.ready && !complete, false)
			b.ready = true
			b.drain(ctx)
		case <-b.birth:
			birthDue = time.After(b.opts.BirthDelay())
		case <-birthDue:
			birthDue = nil
			if b.ready {
				b.log.Info("Home Assistant started: republishing discovery and states")
				b.publishOnline()
				b.reconcile(ctx, b.svc.SyncState(), true, true)
				b.drain(ctx)
			}
		case <-b.inbox.wake:
			b.drain(ctx)
		case <-retention.C:
			if b.ready && b.client.IsConnectionOpen() {
				b.reconcile(ctx, b.svc.SyncState(), false, false)
			}
		}
	}
}

// checkConfigurationURL refuses what Home Assistant refuses as a device's
// configuration_url (a scheme other than http, https or homeassistant, or no
// host): it would drop every discovery message that carries it.
func checkConfigurationURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "homeassistant") || u.Host == "" {
		return fmt.Errorf("mqtt: the configuration URL %q is not an http, https or homeassistant URL", s)
	}
	return nil
}

// drain applies what the Subscriber methods queued. While the connection is
// down it leaves the queue alone: the reconnect republishes everything and
// then drains.
func (b *Bridge) drain(ctx context.Context) {
	if !b.ready || !b.client.IsConnectionOpen() {
		return
	}
	queue, state, hasState, dropped := b.inbox.take()
	if dropped > 0 {
		b.log.Warn("the broker was away for long: some invitation events were not published", "dropped", dropped)
	}
	if len(queue) > 0 {
		b.applyEvents(ctx, queue)
	}
	if hasState {
		b.reconcile(ctx, state, false, false)
	}
}

// shutdown tells Home Assistant the bridge is going away and disconnects.
func (b *Bridge) shutdown() {
	if b.client.IsConnectionOpen() {
		tok := b.client.Publish(b.topics.availability(), 1, true, "offline")
		if err := waitToken(tok, 5*time.Second); err != nil {
			b.log.Warn("could not publish offline before disconnecting", "error", err)
		}
	}
	b.client.Disconnect(shutdownQuiesce)
	b.log.Info("disconnected from the MQTT broker")
}

func (b *Bridge) publishOnline() {
	tok := b.client.Publish(b.topics.availability(), 1, true, "online")
	if err := waitToken(tok, tokenTimeout); err != nil {
		b.log.Warn("could not publish availability", "error", err)
	}
}

// onConnect runs in a goroutine of paho's after every (re)connect: it
// subscribes (a clean session forgets subscriptions), announces "online",
// then hands over to the loop.
func (b *Bridge) onConnect(c paho.Client) {
	filters := map[string]byte{b.topics.haStatus(): 1}
	for _, f := range b.topics.commandFilters() {
		filters[f] = 1
	}
	if err := waitToken(c.SubscribeMultiple(filters, b.onMessage), tokenTimeout); err != nil {
		b.log.Error("could not subscribe to the command topics; commands are ignored until the next reconnect", "error", err)
	}
	b.log.Info("connected to the MQTT broker")
	b.publishOnline()
	signal(b.connected)
}

// onMessage is paho's handler for commands and Home Assistant's status. It
// only queues, and never blocks: a command that is too large or finds the
// queue full is handed to the answer publisher instead.
func (b *Bridge) onMessage(_ paho.Client, m paho.Message) {
	if m.Topic() == b.topics.haStatus() {
		if !m.Retained() && string(m.Payload()) == "online" {
			signal(b.birth)
		}
		return
	}
	if m.Retained() {
		b.log.Warn("ignoring a retained command; clear it by publishing an empty retained message to its topic",
			"topic", clip(m.Topic(), len(b.topics.base)+quoteLen+len("/invite//code/get")))
		return
	}
	c := command{topic: m.Topic(), payload: m.Payload()}
	if len(c.payload) > maxPayload {
		r, _, _ := b.route(c.topic)
		b.refuse(refusal{result: fail(r, errTooLarge(len(c.payload)))})
		return
	}
	select {
	case b.commands <- c:
	default:
		b.refuse(b.busy(c))
	}
}

// signal sets a one-slot flag without blocking.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitToken waits for a paho token at most d, never for ever.
func waitToken(t paho.Token, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return fmt.Errorf("no answer from the broker within %s", d)
	}
}

// inbox queues what the Subscriber methods hand over, without blocking. Of
// each event it keeps what the loop needs, never the invitation: the loop
// publishes the invitation's current state. An event that is not public
// adds nothing while its invitation is queued already.
type inbox struct {
	mu       sync.Mutex
	queue    []queued
	named    map[bridge.InviteID]int // how many entries of queue name each invitation
	state    bridge.SyncState
	hasState bool
	closed   bool
	dropped  int
	wake     chan struct{}
}

// queued is one event as the inbox keeps it.
type queued struct {
	id      bridge.InviteID
	lock    int64
	message []byte // a public event's payload on <base>/event; nil for the others
}

func (q *inbox) addEvents(events []bridge.Event) {
	q.mu.Lock()
	if !q.closed {
		for _, ev := range events {
			e := queued{id: ev.Invitation.ID, lock: ev.Invitation.SmartlockID}
			if ev.Type.Public() {
				e.message = eventPayload(ev)
			} else if q.named[e.id] > 0 {
				continue
			}
			if q.named == nil {
				q.named = make(map[bridge.InviteID]int)
			}
			q.named[e.id]++
			q.queue = append(q.queue, e)
		}
		if over := len(q.queue) - inboxLimit; over > 0 {
			// The states are republished in full on reconnect; only
			// these events are lost.
			for _, e := range q.queue[:over] {
				if q.named[e.id]--; q.named[e.id] == 0 {
					delete(q.named, e.id)
				}
			}
			q.queue = slices.Clone(q.queue[over:])
			q.dropped += over
		}
	}
	q.mu.Unlock()
	signal(q.wake)
}

func (q *inbox) setSync(st bridge.SyncState) {
	q.mu.Lock()
	if !q.closed {
		q.state, q.hasState = st, true
	}
	q.mu.Unlock()
	signal(q.wake)
}

func (q *inbox) take() (queue []queued, state bridge.SyncState, hasState bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	queue, q.queue, q.named = q.queue, nil, nil
	state, hasState, q.hasState = q.state, q.hasState, false
	dropped, q.dropped = q.dropped, 0
	return queue, state, hasState, dropped
}

func (q *inbox) close() {
	q.mu.Lock()
	q.closed, q.queue, q.named = true, nil, nil
	q.mu.Unlock()
}
