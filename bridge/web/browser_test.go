package web_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

var update = flag.Bool("update", false, "rewrite docs/screenshot.png and docs/demo.png from the browser")

const ingressPrefix = "/api/hassio_ingress/TESTTOKEN"

// chromiumPath finds Chromium; without it the browser test is skipped
// outside CI and fails in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is required in CI: apt-get install -y chromium")
	}
	t.Skip("Chromium is not installed (apt-get install -y chromium); skipping the browser test")
	return ""
}

// stack is the real bridge behind the page: the Nuki simulator, the Nuki
// Web client, the bbolt store and the Service.
type stack struct {
	sim  *nukisim.Sim
	svc  *bridge.Service
	lock bridge.Lock
	ben  int64 // a pending guest on lock
}

func newStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	// The page test re-sends one invitation twice within seconds.
	return newStackWith(t, ctx, bridge.Options{ResendCooldown: time.Millisecond})
}

// newStackWith is newStack with the Service's options.
func newStackWith(t *testing.T, ctx context.Context, opts bridge.Options) *stack {
	t.Helper()
	const token = bridge.Secret("sim-token")
	// The page test needs instant writes: the Service is not running its
	// follow-up loop here, and each step below is checked right after the
	// sync that would notice the lock's work.
	sim := nukisim.New(nukisim.Options{Token: token, Instant: true})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	lock := sim.AddLock(bridge.Lock{Name: "Front door"})
	garden := sim.AddLock(bridge.Lock{Name: "Garden gate"})
	guests := []struct {
		name, email string
		lock        bridge.Lock
		accepted    bool
	}{
		{"Grandma Rose", "rose@example.com", lock, true},
		{"Cleaning service", "clean@example.net", garden, false},
		{"Ben (neighbour)", "ben@example.org", lock, false},
	}
	var ben int64
	for _, g := range guests {
		u, err := sim.AddUser(bridge.User{Name: g.name, Email: g.email, Language: "en"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.AddAuth(bridge.Auth{SmartlockID: g.lock.ID, AccountUserID: u.ID, Type: bridge.AuthTypeApp, Name: g.name, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if g.email == "ben@example.org" {
			ben = u.ID
		}
		if g.accepted {
			if _, err := sim.Use(g.lock.ID, u.ID, bridge.ActionUnlock); err != nil {
				t.Fatal(err)
			}
		}
	}

	store, err := bolt.Open(filepath.Join(t.TempDir(), "nuki-invites.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	client := nukiweb.New(simSrv.URL, token, nukiweb.Options{})
	svc := bridge.NewService(store, client, nil, opts)
	if err := svc.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return &stack{sim: sim, svc: svc, lock: lock, ben: ben}
}

// frontendPath is where ingressProxy serves a stand-in for Home Assistant's
// frontend: a page on the same origin that shows the add-on in an iframe,
// as the sidebar does.
const frontendPath = "/frontend"

// ingressProxy plays Home Assistant's ingress: it serves the add-on under
// /api/hassio_ingress/TESTTOKEN/, strips that prefix, and names the user.
// Requests outside the prefix are counted: a page with an absolute URL
// would make them.
func ingressProxy(t *testing.T, backend string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	target, _ := url.Parse(backend)
	var strays atomic.Int32
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, ingressPrefix)
			r.Out.URL.RawPath = ""
			r.Out.Header.Set("X-Ingress-Path", ingressPrefix)
			r.Out.Header.Set("X-Remote-User-Name", "tester")
		},
		FlushInterval: -1,
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == frontendPath {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Home Assistant</title><iframe id="ingress" src="%s/" style="width:1200px;height:800px"></iframe>`, ingressPrefix)
			return
		}
		if !strings.HasPrefix(r.URL.Path, ingressPrefix+"/") {
			if r.URL.Path != "/favicon.ico" {
				strays.Add(1)
				t.Errorf("the page requested %s outside the ingress path", r.URL)
			}
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	return proxy, &strays
}

// servePage serves h behind ingressProxy and returns the page's URL there.
// At the end of the test it checks that no request left the ingress path.
func servePage(t *testing.T, h http.Handler) (page string, proxy *httptest.Server) {
	t.Helper()
	backend := httptest.NewServer(h)
	t.Cleanup(backend.Close)
	proxy, strays := ingressProxy(t, backend.URL)
	t.Cleanup(func() {
		proxy.Close()
		if n := strays.Load(); n > 0 {
			t.Errorf("%d requests left the ingress path", n)
		}
	})
	return proxy.URL + ingressPrefix + "/", proxy
}

// browser is a tab of a headless Chromium of its own. Any exception the
// page throws fails the test.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
}

// newBrowser starts Chromium, in English unless extra options say
// otherwise, and ends it with the test.
func newBrowser(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("accept-lang", "en-US,en"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	b := &browser{t: t, ctx: tab}
	messages := chromedp.Console(tab)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		<-done
		if len(b.exceptions) > 0 {
			t.Errorf("the page threw %d exceptions: %q", len(b.exceptions), b.exceptions)
		}
	})
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
		})
		return err
	})); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

// do runs the actions of one step, failing the test with the step's name.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	start := time.Now()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
	b.t.Logf("%s: %s", step, time.Since(start).Round(time.Millisecond))
}

// text is the text of the first element sel matches as it shows
// (innerText: lines where the layout breaks them, CSS capitals), trimmed.
// It is read in one step, so a live update cannot swap the element away
// half-way.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(b.str(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); return e.innerText; })()`, sel, sel)))
}

// content is the text of the first element sel matches as it is written
// (textContent, blanks collapsed), trimmed.
func (b *browser) content(sel string) string {
	b.t.Helper()
	return b.str(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); return e.textContent.replace(/\s+/g, " ").trim(); })()`, sel, sel))
}

// str evaluates a JavaScript expression that yields a string.
func (b *browser) str(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// is evaluates a JavaScript expression that yields true or false.
func (b *browser) is(expr string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) hidden(sel string) bool {
	b.t.Helper()
	return b.is(fmt.Sprintf(`document.querySelector(%q).hidden`, sel))
}

// visible reports whether sel matches an element that takes up room.
func (b *browser) visible(sel string) bool {
	b.t.Helper()
	return b.is(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, sel))
}

// click clicks the element sel matches, as a user does. A live update may
// swap the table while the click finds its target; then it looks again.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		for range 5 {
			_, err = chromedp.Click(chromedp.CSS(sel))(ctx, tg)
			if err == nil || !staleNode.MatchString(err.Error()) {
				return err
			}
		}
		return err
	})
}

// staleNode matches Chromium's answers about a node the page has just
// replaced.
var staleNode = regexp.MustCompile(`(?i)could not find node|no node with given id|node is detached`)

// poll waits until expr is true.
func poll(step, expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		return nil
	})
}

// TestBrowserInvitationLife drives the page in headless Chromium behind a
// fake ingress: create an invitation with the form, re-send it, and watch it
// turn accepted by itself when the guest redeems the code.
func TestBrowserInvitationLife(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	st := newStack(t, ctx)
	srv, err := web.New(web.Options{Service: st.svc, TrustedProxy: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := servePage(t, srv.Handler())
	b := newBrowser(t, ctx)
	do, text, hidden := b.do, b.text, b.hidden

	do("open the page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#syncline`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-status="pending"]`)),
		poll("the event stream connects", `document.body.dataset.live === "sse"`),
	)
	// Grandma Rose has accepted: a finished invitation, folded away.
	if b.visible(`tr[data-status="accepted"]`) {
		t.Error("a finished invitation shows before it is asked for")
	}
	if got := text(`#fold-toggle`); got != "Show 1 finished" {
		t.Errorf("the fold toggle reads %q, want Show 1 finished", got)
	}
	do("show the finished invitations",
		click(`#fold-toggle`),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-status="accepted"]`)),
	)
	if got := text(`#fold-toggle`); got != "Hide 1 finished" {
		t.Errorf("the unfolded toggle reads %q, want Hide 1 finished", got)
	}

	do("send the create form empty",
		chromedp.Click(chromedp.CSS(`#create-card > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-error`)),
	)
	for _, want := range []string{"Enter the guest's email address.", "Enter the guest's name", "Choose at least one lock."} {
		if got := text(`#create-error`); !strings.Contains(got, want) {
			t.Errorf("the empty form's error %q lacks %q", got, want)
		}
	}
	if focused := b.str(`document.activeElement.id`); focused != "email" {
		t.Errorf("after a refused form the focus is on %q, want the email field", focused)
	}

	fillForm := chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`#email`), "guest@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Alice Guest"),
		chromedp.SetValue(chromedp.CSS(`#language`), "de"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#create input[name="lock"][value="%d"]`, st.lock.ID))),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
	)
	do("fill in and send the create form",
		fillForm,
		poll("the new invitation appears", `[...document.querySelectorAll("#rows .guest-email")].some(e => e.textContent === "guest@example.com")`),
	)
	if !hidden(`#create-error`) {
		t.Errorf("the form still shows an error after it was sent: %q", text(`#create-error`))
	}
	do("send the same invitation again",
		chromedp.WaitEnabled(chromedp.CSS(`#create-submit`)),
		fillForm,
		poll("the refusal shows by the form", `!document.querySelector("#create-error").hidden`),
	)
	if got, want := text(`#create-error`), "Alice Guest already has an invitation to Front door (sending). Re-send it instead."; got != want {
		t.Errorf("the form says %q after a refused create, want %q", got, want)
	}
	id := b.str(`[...document.querySelectorAll("#rows tr")].find(r => r.querySelector(".guest-email")?.textContent === "guest@example.com").dataset.id`)
	row := fmt.Sprintf(`tr[data-id="%s"]`, id)
	// Nuki Web took the request; the lock has not been seen to confirm it.
	if got := text(row + ` td.status`); got != "Sending\nwaiting for the lock" {
		t.Fatalf("the new invitation's status reads %q, want Sending, waiting for the lock", got)
	}
	if got := text(row + ` td.expires`); got != "—" {
		t.Errorf("a sending invitation shows the expiry %q, want none", got)
	}
	if got := text(row + ` td.resends`); got != "0" {
		t.Fatalf("a new invitation shows %q re-sends, want 0", got)
	}
	// The next sync sees the lock has it; the page follows by itself.
	syncNow := func() {
		t.Helper()
		if err := st.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	syncNow()
	do("see it confirmed without reloading", chromedp.WaitVisible(chromedp.CSS(row+`[data-status="pending"]`)))
	if got := text(row + ` td.expires`); got != "in 47 h" {
		t.Errorf("a confirmed invitation expires %q, want in 47 h", got)
	}

	do("re-send with confirmation",
		click(row+` button[data-action="resend"]`),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		poll("re-sends becomes 1", fmt.Sprintf(`document.querySelector('%s td.resends')?.textContent.trim() === "1"`, row)),
	)
	inv, err := st.svc.Invitation(bridge.InviteID(id))
	if err != nil {
		t.Fatal(err)
	}
	if inv.ResendCount != 1 {
		t.Errorf("the service counts %d re-sends, want 1", inv.ResendCount)
	}
	if started := lastDetail(inv.History, "re-send started"); started.Actor != "web:tester" {
		t.Errorf("the re-send was recorded for %q, want web:tester (from X-Remote-User-Name)", started.Actor)
	}
	syncNow()
	do("see the re-send confirmed", chromedp.WaitVisible(chromedp.CSS(row+`[data-status="pending"]`)))
	if got := text(row + ` td.used`); got != "" {
		t.Errorf("an unused invitation shows Last used %q, want nothing", got)
	}

	// The guest redeems the code and opens the door; the next sync notices
	// and the page follows by itself, without a reload.
	if _, err := st.sim.Use(inv.SmartlockID, inv.AccountUserID, bridge.ActionUnlatch); err != nil {
		t.Fatal(err)
	}
	syncNow()
	do("see it accepted without reloading", chromedp.WaitVisible(chromedp.CSS(row+`[data-status="accepted"]`)))
	if got := text(row + ` .badge`); got != "Accepted" {
		t.Fatalf("the invitation shows %q after the guest accepted, want Accepted", got)
	}
	if got := text(row + ` td.used`); got != "just now" {
		t.Errorf("Last used reads %q after the guest used the lock, want just now", got)
	}

	do("open the history",
		click(row+` button[data-action="history"]`),
		chromedp.WaitVisible(chromedp.CSS(`#details .history`)),
	)
	history := text(`#details .history`)
	for _, want := range []string{"Created", "Resent", "Accepted", "Used the lock — unlatch by app", "by web:tester"} {
		if !strings.Contains(history, want) {
			t.Errorf("the history dialog lacks %q:\n%s", want, history)
		}
	}
	do("close the history", chromedp.Click(chromedp.CSS(`#details form button`)), chromedp.WaitNotVisible(chromedp.CSS(`#details`)),
		poll("the focus goes back to the History button", fmt.Sprintf(`document.activeElement.matches('%s button[data-action="history"]')`, row)),
	)

	// A re-send of an accepted invitation takes the guest's key away: the
	// page asks in so many words, then sends force.
	do("re-send the accepted invitation on purpose",
		click(row+` button[data-action="resend"][data-force]`),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	if got := text(`#confirm-title`); got != "Re-send an accepted invitation?" {
		t.Errorf("the confirmation asks %q", got)
	}
	if got := text(`#confirm-text`); !strings.Contains(got, "Alice Guest already uses this key") {
		t.Errorf("the confirmation says %q, want it to warn that the key in use goes", got)
	}
	do("confirm the forced re-send",
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="sending"]`)),
	)
	if inv, err = st.svc.Invitation(bridge.InviteID(id)); err != nil {
		t.Fatal(err)
	}
	if forced := lastDetail(inv.History, "re-send of an accepted invitation"); forced.Actor != "web:tester" {
		t.Errorf("the forced re-send is not in the history: %+v", inv.History)
	}
}

// lastDetail returns the latest history entry whose detail starts with
// prefix.
func lastDetail(h []bridge.HistoryEntry, prefix string) bridge.HistoryEntry {
	for i := len(h) - 1; i >= 0; i-- {
		if strings.HasPrefix(h[i].Detail, prefix) {
			return h[i]
		}
	}
	return bridge.HistoryEntry{}
}
