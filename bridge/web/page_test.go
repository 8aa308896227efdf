package web_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

func TestPageShowsInvitations(t *testing.T) {
	s, _ := newPageServer(t, nil)
	rec := do(t, s.Handler(), "GET", "/", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("the page has no Content-Security-Policy")
	}
	html := visible(rec.Body.String())
	for _, want := range []string{
		`<tr data-id="11-1" data-status="pending">`,
		`<span class="badge pending">Pending</span>`,
		`<span class="guest-name">Alice</span><span class="guest-email">alice@example.com</span>`,
		`<td class="lock" data-label="Lock">Front door</td>`,
		`>2 h ago</time>`, // Alice's sending
		`>in 46 h</time>`, // Alice's expiry
		`>2 h ago</time></td>
  <td class="used is-empty" data-label="Last used"></td>
  <td class="resends" data-label="Re-sends">1</td>`, // Carol: expired 2 h ago, never used, re-sent once
		`<strong>Synced with Nuki Web</strong> · last sync <time datetime="2026-05-04T11:57:00Z">3 min ago</time>`,
		`<input type="checkbox" name="lock" value="22"> Garden gate`,
		`<option value="sending,pending,expiring_soon,failed,scheduled,active,used">Open</option>`,
		`<th scope="col" class="col-used"><a class="sort" id="sort-used" href="?sort=used" title="Sort by Last used">Last used</a></th>`,
		`aria-label="Re-send to Alice for Front door"`, // each row's buttons say whose they are
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(html, `data-action="code"`) {
		t.Error("a Show code button appears although codes are not exposed")
	}
	if strings.Contains(html, "api/v1/diagnostics") {
		t.Error("the page offers diagnostics although the server has none")
	}
	bob := row(html, "22-2")
	if !strings.Contains(bob, `data-action="resend" data-force="true"`) || !strings.Contains(bob, `data-action="revoke"`) {
		t.Errorf("accepted invitation row: want Revoke and a Re-send that asks for force:\n%s", bob)
	}
	if alice := row(html, "11-1"); strings.Contains(alice, "data-force") {
		t.Errorf("a pending invitation's Re-send asks for force:\n%s", alice)
	}
}

// stringsScript is the page's table of strings for app.js.
var stringsScript = regexp.MustCompile(`(?s)<script type="application/json" id="i18n">.*?</script>`)

// visible is the page without its table of strings, which holds every text
// app.js may show: what is left is what the page shows.
func visible(html string) string {
	return stringsScript.ReplaceAllString(html, "")
}

// row returns the table row of one invitation.
func row(html, id string) string {
	i := strings.Index(html, `data-id="`+id+`"`)
	if i < 0 {
		return ""
	}
	r := html[i:]
	return r[:strings.Index(r, "</tr>")]
}

func TestPageShowsSendingAndUse(t *testing.T) {
	// Dan got a key on the garden gate six hours ago and used it an hour
	// later; now it is re-sent on purpose, and the re-send waits for the
	// lock: the expiry and confirmation of the sending it replaces are not
	// shown.
	rb := newRealBridgeAt(t, bridge.Options{}, fakeNow.Add(-6*time.Hour))
	dan := rb.guest("Dan", "dan@example.com", gardenGate)
	rb.sync()
	rb.clock.Advance(time.Hour)
	if _, err := rb.sim.Use(gardenGate.ID, dan.ID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	rb.sync()
	rb.clock.Advance(5 * time.Hour)
	id := bridge.MakeInviteID(gardenGate.ID, dan.ID)
	if _, err := rb.svc.Resend(context.Background(), id, bridge.ResendOptions{Force: true, Actor: "web:tester"}); err != nil {
		t.Fatal(err)
	}
	s := rb.server(func(o *web.Options) {
		o.Diagnostics = func(io.Writer) error { return nil }
	})
	html := visible(do(t, s.Handler(), "GET", "/", "").Body.String())
	danRow := row(html, string(id))
	for _, want := range []string{
		`<span class="badge sending">Sending</span><span class="status-note">waiting for the lock</span>`,
		`<td class="expires" data-label="Expires"><span class="muted">—</span></td>`,
		`<td class="used" data-label="Last used"><time datetime="2026-05-04T07:00:00Z">5 h ago</time></td>`,
		`data-action="resend" data-id="` + string(id) + `"`,
	} {
		if !strings.Contains(danRow, want) {
			t.Errorf("Dan's row lacks %q:\n%s", want, danRow)
		}
	}
	if !strings.Contains(html, `<a class="topbar-link" href="api/v1/diagnostics" download`) {
		t.Error("the page does not offer the diagnostics download")
	}
	history := visible(do(t, s.Handler(), "GET", "/partials/invitations/"+string(id), "").Body.String())
	for _, want := range []string{
		`<span class="badge sending">Sending</span> <span class="muted">(waiting for the lock)</span>`,
		`<dt>Last used</dt><dd><time datetime="2026-05-04T07:00:00Z">5 h ago</time></dd>`,
		`<li class="ev-evidence"><time datetime="2026-05-04T07:00:00Z" data-absolute>5 h ago</time> <strong>Seen in Nuki Web</strong> — lockCount 0 → 1`,
		`<strong>Used the lock</strong> — unlock by app at 2026-05-04T07:00:00Z`,
		`<strong>Changed</strong> — re-send of an accepted invitation started (forced) <span class="muted">by web:tester</span>`,
		`<strong>Resent</strong> — re-send 1, delivery nuki`,
	} {
		if !strings.Contains(history, want) {
			t.Errorf("Dan's history lacks %q:\n%s", want, history)
		}
	}
	if strings.Contains(history, "the lock confirmed it") {
		t.Error("the history shows the confirmation of the sending a re-send replaces")
	}
}

// A finished or never used invitation says so plainly.
func TestPageShowsNoUse(t *testing.T) {
	s, _ := newPageServer(t, nil)
	if strings.Contains(row(visible(do(t, s.Handler(), "GET", "/", "").Body.String()), "11-3"), "status-note") {
		t.Error("an expired row shows a status note")
	}
	alice := visible(do(t, s.Handler(), "GET", "/partials/invitations/11-1", "").Body.String())
	if !strings.Contains(alice, `<dt>Last used</dt><dd><span class="muted">not seen yet</span></dd>`) {
		t.Errorf("a never used invitation's history does not say so:\n%s", alice)
	}
}

func TestPageFilters(t *testing.T) {
	s, _ := newPageServer(t, nil)
	rec := do(t, s.Handler(), "GET", "/?status=sending,pending,expiring_soon,failed,scheduled,active,used&lock=11&q=ali", "")
	html := visible(rec.Body.String())
	if !strings.Contains(html, `<option value="sending,pending,expiring_soon,failed,scheduled,active,used" selected>Open</option>`) ||
		!strings.Contains(html, `<option value="11" selected>Front door</option>`) || !strings.Contains(html, `value="ali"`) {
		t.Error("the filters do not show what was asked")
	}
	if got := rowIDs(html); !slices.Equal(got, []string{"11-1"}) {
		t.Errorf("the table shows %v, want only Alice's open invitation on the front door", got)
	}
	for target, want := range map[string][]string{
		"/?status=sending,pending,expiring_soon,failed,scheduled,active,used": {"11-1"},
		"/?lock=11&status=expired":          {"11-3"},
		"/?q=garden&status=accepted":        {"22-2"},
		"/?q=CAROL&status=expired,accepted": {"11-3"},
	} {
		if got := rowIDs(visible(do(t, s.Handler(), "GET", target, "").Body.String())); !slices.Equal(got, want) {
			t.Errorf("%s shows %v, want %v", target, got, want)
		}
	}

	rec = do(t, s.Handler(), "GET", "/?status=bogus", "")
	if rec.Code != 200 || !strings.Contains(visible(rec.Body.String()), `status &#34;bogus&#34; is not one of`) {
		t.Errorf("a bad filter: %d, want the page with a notice", rec.Code)
	}
	rec = do(t, s.Handler(), "GET", "/?q=nobody", "")
	if !strings.Contains(visible(rec.Body.String()), `<td colspan="8">No invitations match these filters.</td>`) {
		t.Error("an empty result says nothing")
	}
}

// dan is a pending invitation on the garden gate whose invite code is
// stored (custom delivery), for a guest called name.
func dan(name string) bridge.Invitation {
	return bridge.Invitation{SmartlockID: gardenGate.ID, AccountUserID: 8, Name: name, Email: "dan@example.com",
		LockName: gardenGate.Name, Delivery: bridge.DeliveryCustom, HasCode: true, Status: bridge.StatusPending, Send: 1,
		SentAt: fakeNow.Add(-time.Hour), ConfirmedAt: fakeNow.Add(-time.Hour), ExpiresAt: fakeNow.Add(47 * time.Hour)}
}

func TestPageShowsCodeButtonOnlyWhenExposed(t *testing.T) {
	s, _ := newPageServer(t, func(o *web.Options) { o.ExposeCodes = true }, dan(""))
	html := visible(do(t, s.Handler(), "GET", "/", "").Body.String())
	if n := strings.Count(html, `data-action="code"`); n != 1 {
		t.Errorf("%d Show code buttons, want 1 (only the invitation with a code)", n)
	}
	if !strings.Contains(html, `<span class="guest-name">dan@example.com</span>`) {
		t.Error("a guest without a name is not shown by email")
	}
}

func TestPartials(t *testing.T) {
	s, _ := newPageServer(t, nil)
	rec := do(t, s.Handler(), "GET", "/partials/invitations?status=accepted", "")
	html := visible(rec.Body.String())
	if rec.Code != 200 || !strings.Contains(html, `id="syncline"`) || !strings.Contains(html, `<tbody id="rows">`) ||
		!strings.Contains(html, `data-id="22-2"`) || strings.Contains(html, `data-id="11-1"`) {
		t.Errorf("rows partial: %d\n%s", rec.Code, html)
	}
	rec = do(t, s.Handler(), "GET", "/partials/invitations/11-1", "")
	if html := visible(rec.Body.String()); rec.Code != 200 || !strings.Contains(html, "<strong>Created</strong>") || !strings.Contains(html, "by mqtt") {
		t.Errorf("history partial: %d\n%s", rec.Code, html)
	}
	wantProblem(t, do(t, s.Handler(), "GET", "/partials/invitations/11-7", ""), 404, "no invitation")
}

func TestAssets(t *testing.T) {
	s, _ := newPageServer(t, nil)
	for _, name := range []string{"app.js", "style.css", "icon.svg"} {
		rec := do(t, s.Handler(), "GET", "/assets/"+name, "")
		if rec.Code != 200 || rec.Body.Len() == 0 || rec.Header().Get("ETag") == "" {
			t.Errorf("%s: %d, %d bytes, ETag %q", name, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
		again := do(t, s.Handler(), "GET", "/assets/"+name, "", "If-None-Match", rec.Header().Get("ETag"))
		if again.Code != 304 {
			t.Errorf("%s again: %d, want 304", name, again.Code)
		}
	}
	wantProblem(t, do(t, s.Handler(), "GET", "/assets/index.html.tmpl", ""), 404, "no asset")
}

// absoluteURL finds URLs that start with "/" in markup and script: they
// would escape Home Assistant's ingress path.
var absoluteURL = regexp.MustCompile(`(?i)(?:\b(?:href|src|action|formaction)\s*=\s*["']?\s*/|\b(?:fetch|EventSource|api|replaceState|open)\s*\(\s*(?:[^,()]*,\s*)*["'\x60]/|url\(\s*["']?/)`)

func TestOnlyRelativeURLs(t *testing.T) {
	s, _ := newPageServer(t, func(o *web.Options) { o.ExposeCodes = true }, dan("Dan"))
	pages := map[string]string{}
	for _, target := range []string{"/", "/partials/invitations", "/partials/invitations/11-1"} {
		pages[target] = do(t, s.Handler(), "GET", target, "").Body.String()
	}
	err := fs.WalkDir(os.DirFS("assets"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("assets", path))
		pages["assets/"+path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range pages {
		t.Run(name, func(t *testing.T) {
			if m := absoluteURL.FindAllString(text, -1); len(m) > 0 {
				t.Errorf("absolute URLs: %q", m)
			}
		})
	}
	t.Run("the check finds absolute URLs", func(t *testing.T) {
		for _, bad := range []string{`<a href="/x">`, `<script src='/a.js'>`, `<form action="/api">`, `fetch("/api/v1/x")`,
			"api(\"POST\", `/api/v1/sync`)", `new EventSource("/api/v1/events")`, `url(/bg.png)`,
			`history.replaceState(null, "", "/x")`} {
			if !absoluteURL.MatchString(bad) {
				t.Errorf("%s is not caught", bad)
			}
		}
	})
}

func TestPageShowsWhyAnInvitationFailed(t *testing.T) {
	s, _ := newPageServer(t, nil, bridge.Invitation{SmartlockID: gardenGate.ID, AccountUserID: 9, Name: "Eve", Email: "eve@example.com",
		LockName: gardenGate.Name, Delivery: bridge.DeliveryNuki, Status: bridge.StatusFailed, Send: 1, SentAt: fakeNow.Add(-time.Hour),
		ConfirmedAt: fakeNow.Add(-time.Hour), ExpiresAt: fakeNow.Add(47 * time.Hour), FailedAt: fakeNow, LastError: "lock offline"})
	html := visible(do(t, s.Handler(), "GET", "/", "").Body.String())
	row := html[strings.Index(html, `data-id="22-9"`):]
	row = row[:strings.Index(row, "</tr>")]
	if want := `<span class="badge failed">Failed</span><span class="status-error" title="lock offline">lock offline</span>`; !strings.Contains(row, want) {
		t.Errorf("the failed row does not say why under its status:\n%s", row)
	}
	if strings.Count(html, `class="status-error"`) != 1 {
		t.Error("a row that did not fail shows an error")
	}
}

func TestPageEmptyStates(t *testing.T) {
	tests := []struct {
		name, target string
		seeded       bool
		want         string
	}{
		{"no invitations at all", "/", false, "No invitations yet. Open <strong>New invitation</strong> above to send the first one."},
		{"a status nobody has", "/?status=revoked", true, "No invitations match these filters."},
		{"a lock without invitations", "/?lock=33", true, "No invitations match these filters."},
		{"a search without hits", "/?q=nobody", true, "No invitations match these filters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *web.Server
			if tt.seeded {
				s, _ = newPageServer(t, nil)
			} else {
				s, _ = newRealServer(t, bridge.Options{}, nil)
			}
			html := visible(do(t, s.Handler(), "GET", tt.target, "").Body.String())
			if !strings.Contains(html, `<tr class="empty"><td colspan="8">`+tt.want+`</td></tr>`) {
				t.Errorf("the empty table does not say %q", tt.want)
			}
		})
	}
}

func TestRelativeTimes(t *testing.T) {
	tests := []struct {
		offset time.Duration
		want   string
	}{
		{-30 * time.Second, "just now"},
		{30 * time.Second, "in <1 min"},
		{-3*time.Minute - 20*time.Second, "3 min ago"},
		{59 * time.Minute, "in 59 min"},
		{5*time.Hour + 10*time.Minute, "in 5 h"},
		{-47 * time.Hour, "47 h ago"},
		{-3 * 24 * time.Hour, "3 d ago"},
		{10 * 24 * time.Hour, "in 10 d"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := web.Since(fakeNow, fakeNow.Add(tt.offset)); got != tt.want {
				t.Errorf("%v from now reads %q, want %q", tt.offset, got, tt.want)
			}
		})
	}
	if got := web.Since(fakeNow, time.Time{}); got != "—" {
		t.Errorf("no time reads %q, want a dash", got)
	}
}

// syncInto brings a realBridge's link to Nuki Web into a sync status the
// way it gets there in use.
var syncInto = map[bridge.SyncStatus]func(t *testing.T, rb *realBridge){
	bridge.SyncOK: func(t *testing.T, rb *realBridge) {},
	// A Service that has just opened its store has not synced yet.
	bridge.SyncRunning: func(t *testing.T, rb *realBridge) { rb.open() },
	bridge.SyncAuthError: func(t *testing.T, rb *realBridge) {
		failSync(t, rb, nukisim.Fault{Status: http.StatusUnauthorized})
	},
	bridge.SyncRateLimited: func(t *testing.T, rb *realBridge) {
		failSync(t, rb, nukisim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "60"})
	},
	bridge.SyncUnreachable: func(t *testing.T, rb *realBridge) {
		failSync(t, rb, nukisim.Fault{Status: http.StatusServiceUnavailable})
	},
	// A new guest in Nuki Web, and the database cannot take them.
	bridge.SyncStoreError: func(t *testing.T, rb *realBridge) {
		rb.guest("Nina", "nina@example.com", frontDoor)
		rb.db.Close()
		if err := rb.svc.Sync(context.Background()); err == nil {
			t.Fatal("a sync into a closed store succeeded")
		}
	},
	// Every guest's key deleted in Nuki Web at once, seen by two syncs.
	bridge.SyncHeld: func(t *testing.T, rb *realBridge) {
		for _, name := range []string{"Ann", "Ben", "Cid", "Dan", "Eve"} {
			rb.guest(name, strings.ToLower(name)+"@example.com", frontDoor)
		}
		rb.sync()
		for _, a := range rb.sim.Auths() {
			if err := rb.client.DeleteAuth(context.Background(), a.SmartlockID, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		rb.sync()
		rb.sync()
	},
}

// failSync makes Nuki Web answer every request with the fault and syncs.
func failSync(t *testing.T, rb *realBridge, f nukisim.Fault) {
	t.Helper()
	rb.sim.InjectFault(f)
	if err := rb.svc.Sync(context.Background()); err == nil {
		t.Fatalf("a sync succeeded although Nuki Web answered %d", f.Status)
	}
	rb.sim.ClearFaults()
}

// Every sync status has its own words on the page.
func TestPageNamesEverySyncStatus(t *testing.T) {
	seen := map[string]bridge.SyncStatus{}
	for _, st := range bridge.SyncStatuses {
		t.Run(string(st), func(t *testing.T) {
			into, ok := syncInto[st]
			if !ok {
				t.Fatalf("the test does not know how to bring the bridge into the sync status %s", st)
			}
			rb := newRealBridge(t, bridge.Options{})
			into(t, rb)
			if got := rb.svc.SyncState().Status; got != st {
				t.Fatalf("the bridge is in the sync status %s, want %s", got, st)
			}
			s := rb.server(nil)
			rec := do(t, s.Handler(), "GET", "/partials/invitations", "")
			m := regexp.MustCompile(`<strong>([^<]*)</strong>`).FindStringSubmatch(rec.Body.String())
			if rec.Code != 200 || m == nil {
				t.Fatalf("status %d, no sync label in %.300s", rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `class="syncline sync-`+string(st)+`"`) {
				t.Errorf("the sync line is not marked %s", st)
			}
			if m[1] == "Not synced yet" {
				t.Errorf("%s shows %q", st, m[1])
			}
			if other, dup := seen[m[1]]; dup {
				t.Errorf("%s and %s both show %q", st, other, m[1])
			}
			seen[m[1]] = st
		})
	}
}
