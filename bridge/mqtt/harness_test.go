package mqtt_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// pahoLogs collects paho's own log lines from every test in this process,
// so the secrets test can scan them too; pahoLevel is their level (debug,
// everything).
var (
	pahoLogs  bridgetest.Logs
	pahoLevel slog.LevelVar
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pahoLevel.Set(slog.LevelDebug)
	mqtt.RoutePahoLogs(slog.New(slog.NewTextHandler(&pahoLogs, &slog.HandlerOptions{Level: &pahoLevel})))
	os.Exit(m.Run())
}

const wait = 10 * time.Second

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is one invitation in every kind of state: Alice pending (her
// invite code stored), Bob accepted an hour ago (and seen using the lock
// since), Carol revoked ten days ago (past retention), Dave expiring soon,
// Zoë failed, Finn sending (the lock has not confirmed his invitation yet).
func fixture(now time.Time) []bridge.Invitation {
	inv := func(lock, user int64, name, lockName string, st bridge.Status, sent time.Time) bridge.Invitation {
		return bridge.Invitation{
			ID: bridge.MakeInviteID(lock, user), SmartlockID: lock, AccountUserID: user, Name: name,
			Email: strings.ToLower(strings.Fields(name)[0]) + "@example.com", LockName: lockName, Language: "en",
			Delivery: bridge.DeliveryNuki, Send: 1, SentAt: sent, ConfirmedAt: sent, ExpiresAt: sent.Add(48 * time.Hour), Status: st,
		}
	}
	alice := inv(101, 201, "Alice", "Front door", bridge.StatusPending, now.Add(-2*time.Hour))
	alice.HasCode = true
	bob := inv(101, 202, "Bob", "Front door", bridge.StatusAccepted, now.Add(-5*time.Hour))
	bob.AcceptedAt, bob.AcceptedSignal = now.Add(-time.Hour), bridge.SignalActivityLog
	bob.LastUsedAt = now.Add(-10 * time.Minute)
	carol := inv(102, 203, "Carol", "Back door", bridge.StatusRevoked, now.Add(-12*24*time.Hour))
	carol.RevokedAt = now.Add(-10 * 24 * time.Hour)
	dave := inv(102, 204, "Dave", "Back door", bridge.StatusExpiringSoon, now.Add(-42*time.Hour))
	dave.ResendCount = 1
	zoe := inv(101, 205, "Zoë Müller", "Front door", bridge.StatusFailed, now.Add(-3*time.Hour))
	zoe.FailedAt, zoe.LastError = now.Add(-3*time.Hour), "Nuki Web rejected the request: lock offline (ff)"
	finn := inv(102, 206, "Finn", "Back door", bridge.StatusSending, now.Add(-time.Minute))
	finn.ConfirmedAt, finn.ExpiresAt = time.Time{}, time.Time{}
	return []bridge.Invitation{alice, bob, carol, dave, zoe, finn}
}

// simToken is the simulator's API token.
const simToken = "sim-token"

// fixtureCodes are the codes stored with the fixture: Alice's invite code
// and keypad codes for Gustav (keypadFixture) and a second one.
var fixtureCodes = map[bridge.InviteID]bridge.Secret{"101-201": "482913675", "101-k1": "483915", "101-k2": "485916"}

// fixtureLocks are the account's locks: the two doors of the fixture (the
// front door with a keypad) and a garage of a type Nuki had not named yet,
// with no invitation on it.
func fixtureLocks() []bridge.Lock {
	return []bridge.Lock{
		{ID: 102, Name: "Back door", Type: 0},
		{ID: 101, Name: "Front door", Type: 4, Keypad: true},
		{ID: 103, Name: "Garage", Type: 9},
	}
}

// harness is one bridge's world: the real Service over a bbolt store in a
// temporary directory and the Nuki Web simulator (its locks carry out writes
// at once) reached through the real client, all on the test's clock; topics
// of its own on the broker and a log buffer.
type harness struct {
	t      testing.TB
	url    string
	base   string
	prefix string
	clock  *bridgetest.Clock
	sim    *nukisim.Sim
	simURL string
	nuki   *accountView
	db     *bolt.Store
	svc    *watchedService
	logs   *bridgetest.Logs
}

// newHarness returns a harness whose Service holds invs as they are, on the
// locks of fixtureLocks: the account lists what each status implies (the
// users, the authorizations of pending, expiring and accepted invitations,
// keypad codes with the codes of fixtureCodes), the store holds the
// invitations, and one sync, a minute before t0, has read the account. The
// clock then stands at t0. The harness fails if that sync changed any
// status. Invitations on locks the account does not have stay in the store
// only.
func newHarness(t testing.TB, url string, invs ...bridge.Invitation) *harness {
	return newHarnessWith(t, url, bridge.Options{}, invs...)
}

// newHarnessWith is newHarness with a Service configured by opts; its clock
// and logger are the harness's.
func newHarnessWith(t testing.TB, url string, opts bridge.Options, invs ...bridge.Invitation) *harness {
	c := bridgetest.NewClock(t0.Add(-time.Minute))
	h := &harness{
		t: t, url: url, base: mqtttest.Unique("nit"), prefix: mqtttest.Unique("ha"),
		clock: c, logs: &bridgetest.Logs{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge log:\n%s", h.logs.String())
		}
	})
	h.sim = nukisim.New(nukisim.Options{Token: simToken, Now: c.Now, Instant: true})
	t.Cleanup(h.sim.Close)
	simSrv := httptest.NewServer(h.sim)
	t.Cleanup(simSrv.Close)
	h.simURL = simSrv.URL
	h.nuki = &accountView{Nuki: nukiweb.New(simSrv.URL, simToken, nukiweb.Options{
		Now: c.Now, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "nuki-invites.db"), bolt.Options{Timeout: time.Second, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db

	invs = slices.Clone(invs)
	batch := bridge.Batch{Invitations: invs, Codes: map[bridge.InviteID]bridge.Secret{}}
	account := map[int64]bool{}
	for _, l := range fixtureLocks() {
		h.sim.AddLock(l)
		account[l.ID] = true
	}
	users := map[int64]bool{}
	for i := range invs {
		inv := &invs[i]
		if !account[inv.SmartlockID] {
			continue
		}
		if code, ok := fixtureCodes[inv.ID]; ok && inv.HasCode {
			batch.Codes[inv.ID] = code
		}
		listed := bridge.Auth{SmartlockID: inv.SmartlockID, Name: inv.Name, Enabled: true, CreationDate: inv.SentAt}
		if inv.Keypad() {
			listed.Type, listed.Code, listed.Access = bridge.AuthTypeKeypadCode, fixtureCodes[inv.ID], inv.Access
		} else {
			listed.Type, listed.AccountUserID = bridge.AuthTypeApp, inv.AccountUserID
			if inv.Status == bridge.StatusAccepted {
				listed.LockCount = 1
			}
			if !users[inv.AccountUserID] {
				users[inv.AccountUserID] = true
				if _, err := h.sim.AddUser(bridge.User{ID: inv.AccountUserID, Name: inv.Name, Email: inv.Email, Language: inv.Language}); err != nil {
					t.Fatal(err)
				}
			}
		}
		switch inv.Status {
		case bridge.StatusPending, bridge.StatusExpiringSoon, bridge.StatusAccepted,
			bridge.StatusScheduled, bridge.StatusActive, bridge.StatusUsed:
			a, err := h.sim.AddAuth(listed)
			if err != nil {
				t.Fatal(err)
			}
			inv.AuthID = a.ID
		}
	}
	if err := db.Commit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	opts.Now, opts.Logger = c.Now, h.logs.Logger()
	svc := bridge.NewService(db, h.nuki, nil, opts)
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.svc = &watchedService{Service: svc}
	if err := svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	for _, inv := range invs {
		if got, err := svc.Invitation(inv.ID); err != nil || got.Status != inv.Status {
			t.Fatalf("the Service holds %s as %s (%v), want %s", inv.ID, got.Status, err, inv.Status)
		}
	}
	return h
}

// sync moves the clock on by a minute, so that the bridge state changes and
// marks the end of what the sync published, and syncs the Service.
func (h *harness) sync() {
	h.t.Helper()
	h.clock.Advance(time.Minute)
	if err := h.svc.Sync(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// invitation returns one invitation as the Service holds it.
func (h *harness) invitation(id bridge.InviteID) bridge.Invitation {
	h.t.Helper()
	inv, err := h.svc.Invitation(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

// published returns the discovery topics the store records as published.
func (h *harness) published() map[string]string {
	h.t.Helper()
	topics, err := h.db.PublishedDiscovery(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return topics
}

// accountView is the real client with the account's list of locks as a test
// changes it: the simulator cannot rename a lock or take one away from the
// account. Everything else is as Nuki Web lists it.
type accountView struct {
	bridge.Nuki
	mu      sync.Mutex
	renamed map[int64]string
	hidden  map[int64]bool
}

// Fetch lists the account, with locks renamed and hidden as set.
func (v *accountView) Fetch(ctx context.Context) (bridge.Snapshot, error) {
	snap, err := v.Nuki.Fetch(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	snap.Locks = slices.DeleteFunc(snap.Locks, func(l bridge.Lock) bool { return v.hidden[l.ID] })
	for i, l := range snap.Locks {
		if name, ok := v.renamed[l.ID]; ok {
			snap.Locks[i].Name = name
		}
	}
	return snap, err
}

// set renames and hides locks from now on; a lock not named is listed as it
// is.
func (v *accountView) set(renamed map[int64]string, hidden ...int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.renamed, v.hidden = renamed, map[int64]bool{}
	for _, id := range hidden {
		v.hidden[id] = true
	}
}

// watchedService is the real Service as the bridge sees it. It records the
// calls the bridge makes, which a test cannot always see otherwise (a sync
// request acts only in a running sync loop), holds every create while a
// hold is on, and can keep the bridge's loop busy (holdLoop).
type watchedService struct {
	*bridge.Service
	mu       sync.Mutex
	calls    []string
	gate     chan struct{}
	loopHold *loopHold
}

// loopHold keeps the bridge's loop in one call of Locks: entered is closed
// once the loop is there, release lets it go on.
type loopHold struct {
	entered, release chan struct{}
}

var _ mqtt.Service = (*watchedService)(nil)

func (w *watchedService) record(call string) {
	w.mu.Lock()
	w.calls = append(w.calls, call)
	w.mu.Unlock()
}

// Calls returns the calls recorded so far, oldest first.
func (w *watchedService) Calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// hold makes every create wait until the returned func is called.
func (w *watchedService) hold() (release func()) {
	gate := make(chan struct{})
	w.mu.Lock()
	w.gate = gate
	w.mu.Unlock()
	return func() { close(gate) }
}

// holdLoop makes the bridge's next call of Locks, which every publishing
// pass of its loop makes, wait until release is called: meanwhile the
// Service's events queue up. entered is closed once the loop waits.
func (w *watchedService) holdLoop() (entered <-chan struct{}, release func()) {
	hold := &loopHold{entered: make(chan struct{}), release: make(chan struct{})}
	w.mu.Lock()
	w.loopHold = hold
	w.mu.Unlock()
	return hold.entered, sync.OnceFunc(func() { close(hold.release) })
}

func (w *watchedService) Locks() []bridge.Lock {
	w.mu.Lock()
	hold := w.loopHold
	w.loopHold = nil
	w.mu.Unlock()
	if hold != nil {
		close(hold.entered)
		<-hold.release
	}
	return w.Service.Locks()
}

func (w *watchedService) RequestSync() {
	w.record("sync")
	w.Service.RequestSync()
}

func (w *watchedService) ConfirmHeldSync() error {
	w.record("confirm_held")
	return w.Service.ConfirmHeldSync()
}

func (w *watchedService) Create(ctx context.Context, r bridge.CreateRequest) ([]bridge.Invitation, error) {
	w.record("create " + r.Email)
	w.mu.Lock()
	gate := w.gate
	w.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return w.Service.Create(ctx, r)
}

func (w *watchedService) Resend(ctx context.Context, id bridge.InviteID, o bridge.ResendOptions) (bridge.Invitation, error) {
	call := fmt.Sprintf("resend %s %s %s", id, o.Delivery, o.Actor)
	if o.Force {
		call += " force"
	}
	w.record(call)
	return w.Service.Resend(ctx, id, o)
}

func (w *watchedService) Revoke(ctx context.Context, id bridge.InviteID, actor string) (bridge.Invitation, error) {
	w.record(fmt.Sprintf("revoke %s %s", id, actor))
	return w.Service.Revoke(ctx, id, actor)
}

func (w *watchedService) RevealCode(ctx context.Context, id bridge.InviteID, actor string) (bridge.Code, error) {
	w.record(fmt.Sprintf("code %s %s", id, actor))
	return w.Service.RevealCode(ctx, id, actor)
}

func (w *watchedService) AdoptKeypadCode(ctx context.Context, lock int64, authID, actor string) (bridge.Invitation, error) {
	w.record(fmt.Sprintf("adopt %d %s %s", lock, authID, actor))
	return w.Service.AdoptKeypadCode(ctx, lock, authID, actor)
}

func (h *harness) options() mqtt.Options {
	return mqtt.Options{
		URL: h.url, ClientID: mqtttest.Unique("bridge"), BaseTopic: h.base, DiscoveryPrefix: h.prefix,
		Retention: 168 * time.Hour, Version: "1.2.3", Now: h.clock.Now, Logger: h.logs.Logger(),
		BirthDelay: func() time.Duration { return 10 * time.Millisecond },
	}
}

// running is a Bridge whose Run is going on in a goroutine.
type running struct {
	bridge *mqtt.Bridge
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	t      testing.TB
}

func (h *harness) start(tweak ...func(*mqtt.Options)) *running {
	return h.startOn(h.svc, tweak...)
}

// startOn starts a Bridge that reads svc, a view of the harness's Service,
// and hears the Service's events.
func (h *harness) startOn(svc mqtt.Service, tweak ...func(*mqtt.Options)) *running {
	opts := h.options()
	for _, f := range tweak {
		f(&opts)
	}
	b := mqtt.New(svc, h.db, opts)
	unsubscribe := h.svc.Subscribe(b)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{bridge: b, cancel: cancel, done: make(chan error, 1), t: h.t}
	go func() {
		defer unsubscribe()
		r.done <- b.Run(ctx)
	}()
	h.t.Cleanup(r.stop)
	return r
}

// stop cancels Run and checks it returns nil.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(wait):
			r.t.Errorf("Run did not return within %s of cancel", wait)
		}
	})
}

func (h *harness) topic(rel string) string { return h.base + "/" + rel }

func (h *harness) discoveryTopic(device string) string {
	return h.prefix + "/device/" + h.base + "_" + device + "/config"
}

// watch connects a recording client to the harness' topics.
func (h *harness) watch(filters ...string) *mqtttest.Client {
	return mqtttest.Connect(h.t, h.url, filters...)
}

// live matches messages published while we listened (not from the store).
func live(topic string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool { return m.Topic == topic && !m.Retained }
}

// normalize replaces the test's random topics with the defaults, for golden
// files and readable failures.
func (h *harness) normalize(b []byte) string {
	s := strings.ReplaceAll(string(b), h.base, "nuki_invites")
	return strings.ReplaceAll(s, h.prefix, "homeassistant")
}

func golden(t *testing.T, name string, payload string) {
	t.Helper()
	var pretty strings.Builder
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, payload)
	}
	enc := json.NewEncoder(&pretty)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, []byte(pretty.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if pretty.String() != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, path, pretty.String(), want)
	}
}

func decode(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, payload)
	}
	return m
}
