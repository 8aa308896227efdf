package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// The server renders the page in the language the browser asks for, or
// the one ?lang= names, else English.
func TestPageLanguage(t *testing.T) {
	tests := []struct {
		name, target, accept string
		wantLang             string
	}{
		{"German browser", "/", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"German after a language the page lacks", "/", "fr-FR,fr;q=0.9,de;q=0.5", "de"},
		{"only languages the page lacks", "/", "fr-FR,fr", "en"},
		{"no header", "/", "", "en"},
		{"German refused outright", "/", "de;q=0, en;q=0.5", "en"},
		{"?lang= over the header", "/?lang=de", "en-US,en", "de"},
		{"an unknown ?lang=", "/?lang=xx", "de-AT", "de"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newPageServer(t, nil)
			rec := do(t, s.Handler(), "GET", tt.target, "", "Accept-Language", tt.accept)
			html := visible(rec.Body.String())
			if !strings.Contains(html, fmt.Sprintf(`<html lang="%s">`, tt.wantLang)) {
				t.Errorf("the page is not in %s: %.200s", tt.wantLang, html)
			}
			if !strings.Contains(html, "<h1>Nuki Invites</h1>") {
				t.Error("the page lacks the heading Nuki Invites, the product's name in every language")
			}
			create := map[string]string{"en": "New invitation", "de": "Neue Einladung"}[tt.wantLang]
			if !strings.Contains(html, create) {
				t.Errorf("the page lacks %q", create)
			}
			if !strings.Contains(rec.Body.String(), fmt.Sprintf(`<script type="application/json" id="i18n">{"lang":"%s","languages":["en","de"],"strings":{`, tt.wantLang)) {
				t.Error("the page does not give app.js its strings")
			}
			if vary := rec.Header().Get("Vary"); !strings.Contains(vary, "Accept-Language") {
				t.Errorf("Vary %q does not name Accept-Language", vary)
			}
		})
	}
}

// Everything the server renders is in German for a German browser: the
// table, its partial and the history.
func TestPageInGerman(t *testing.T) {
	s, _ := newPageServer(t, nil)
	de := []string{"Accept-Language", "de-DE,de;q=0.9"}
	html := visible(do(t, s.Handler(), "GET", "/", "", de...).Body.String())
	for _, want := range []string{
		`<summary><span class="plus" aria-hidden="true">+</span> Neue Einladung</summary>`,
		`<strong>Mit Nuki Web abgeglichen</strong> · letzter Abgleich <time datetime="2026-05-04T11:57:00Z">vor 3 Min.</time>`,
		`<span class="badge pending">Ausstehend</span>`,
		`>Gast</a></th>`,
		`>Läuft ab</a></th>`,
		`<option value="sending,pending,expiring_soon,failed,scheduled,active,used">Offen</option>`,
		`aria-label="Erneut an Alice senden, für Front door">Erneut senden</button>`,
		`<td class="expires" data-label="Läuft ab"><time datetime="2026-05-06T10:00:00Z">in 46 Std.</time></td>`,
		`2 erledigte zeigen</a>`,
		`<input type="checkbox" name="weekday" value="mon"> Mo</label>`,
		`<option value="de" selected>Deutsch</option>`, // new guests get the page's language
		`>CSV exportieren</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the German page lacks %q", want)
		}
	}
	for _, english := range []string{"New invitation", "Pending", "Re-send", "Show 2 finished", "Sync now"} {
		if strings.Contains(html, english) {
			t.Errorf("the German page says %q", english)
		}
	}

	partial := visible(do(t, s.Handler(), "GET", "/partials/invitations?status=accepted", "", de...).Body.String())
	if !strings.Contains(partial, `<span class="badge accepted">Angenommen</span>`) {
		t.Errorf("the German partial lacks the status Angenommen:\n%s", partial)
	}
	history := visible(do(t, s.Handler(), "GET", "/partials/invitations/11-1", "", de...).Body.String())
	for _, want := range []string{
		`<dt>Zuletzt benutzt</dt><dd><span class="muted">noch nicht gesehen</span></dd>`,
		`<strong>Angelegt</strong> <span class="muted">von mqtt</span>`,
		`<dt>Zustellung</dt><dd>durch Nuki</dd>`,
	} {
		if !strings.Contains(history, want) {
			t.Errorf("the German history lacks %q:\n%s", want, history)
		}
	}
}

// germanBrowser is Chromium set to German, as a browser in Germany is.
func germanBrowser(t *testing.T, ctx context.Context) *browser {
	return newBrowser(t, ctx, chromedp.Flag("lang", "de-DE"), chromedp.Flag("accept-lang", "de-DE,de"))
}

// TestBrowserInGerman runs the whole page in German: what the server
// renders and what app.js says.
func TestBrowserInGerman(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := newStack(t, ctx)
	srv, err := web.New(web.Options{Service: st.svc, TrustedProxy: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := servePage(t, srv.Handler())
	b := germanBrowser(t, ctx)

	b.do("open the page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-status="pending"]`)),
		poll("the event stream connects", `document.body.dataset.live === "sse"`),
	)
	if lang := b.str(`document.documentElement.lang + " " + location.search`); lang != "de " {
		t.Errorf("a German browser gets the page in %q (lang and query), want de without a reload", lang)
	}
	for sel, want := range map[string]string{
		`h1`:                               "Nuki Invites",
		`#create-card > summary`:           "+ Neue Einladung",
		`#sort-guest`:                      "Gast",
		`#sort-expires`:                    "Läuft ab",
		`#syncline strong`:                 "Mit Nuki Web abgeglichen",
		`tr[data-status="pending"] .badge`: "Ausstehend",
		`tr[data-status="pending"] button[data-action="history"]`: "Verlauf",
		`tr[data-status="pending"] button[data-action="revoke"]`:  "Widerrufen",
		`#fold-toggle`: "1 erledigte zeigen",
		`#export`:      "CSV exportieren",
	} {
		if got := b.content(sel); got != want {
			t.Errorf("%s reads %q, want %q", sel, got, want)
		}
	}

	b.do("send the create form empty",
		chromedp.Click(chromedp.CSS(`#create-card > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-error`)),
	)
	for _, want := range []string{"Gib die E-Mail-Adresse des Gastes ein.", "Gib den Namen des Gastes ein", "Wähle mindestens ein Schloss."} {
		if got := b.text(`#create-error`); !strings.Contains(got, want) {
			t.Errorf("the empty form's error %q lacks %q", got, want)
		}
	}
	b.do("invite a guest",
		chromedp.SendKeys(chromedp.CSS(`#email`), "dora@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Dora"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#create input[name="lock"][value="%d"]`, st.lock.ID))),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		poll("the toast says so", `document.querySelector("#toast").textContent === "Einladung an dora@example.com gesendet."`),
		poll("the new invitation appears", `[...document.querySelectorAll("#rows .guest-email")].some(e => e.textContent === "dora@example.com")`),
	)
	id := b.str(`[...document.querySelectorAll("#rows tr")].find(r => r.querySelector(".guest-email")?.textContent === "dora@example.com").dataset.id`)
	row := fmt.Sprintf(`tr[data-id="%s"]`, id)
	if got := b.text(row + ` td.status`); got != "Wird gesendet\nwartet auf das Schloss" {
		t.Errorf("the new invitation's status reads %q", got)
	}
	if got := b.text(row + ` td.sent`); got != "gerade eben" {
		t.Errorf("the new invitation was sent %q, want gerade eben", got)
	}
	inv, err := st.svc.Invitation(bridge.InviteID(id))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Language != "de" {
		t.Errorf("a guest invited from the German page gets e-mails in %q, want de (the form's default)", inv.Language)
	}

	b.do("open the history",
		click(row+` button[data-action="history"]`),
		chromedp.WaitVisible(chromedp.CSS(`#details .history`)),
	)
	if got := b.text(`#details .history li`); !strings.Contains(got, "Angelegt") || !strings.Contains(got, "von web:tester") {
		t.Errorf("the history's first entry reads %q, want Angelegt … von web:tester", got)
	}
	if got := b.text(`#details form button`); got != "Schließen" {
		t.Errorf("the dialog's button reads %q, want Schließen", got)
	}
	b.do("close the history", chromedp.Click(chromedp.CSS(`#details form button`)), chromedp.WaitNotVisible(chromedp.CSS(`#details`)))

	b.do("ask to revoke",
		click(row+` button[data-action="revoke"]`),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	if got := b.text(`#confirm-title`); got != "Die Einladung widerrufen?" {
		t.Errorf("the confirmation asks %q", got)
	}
	if got := b.text(`#confirm-text`); got != "Dora verliert den Zugang zu diesem Schloss. Das lässt sich nicht rückgängig machen." {
		t.Errorf("the confirmation says %q", got)
	}
	b.do("cancel", chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)), chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)))
}

// TestBrowserFollowsHomeAssistant opens the page as Home Assistant's
// sidebar does, in an iframe of its frontend: the language chosen there
// wins over the browser's.
func TestBrowserFollowsHomeAssistant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, _ := newPageServer(t, func(o *web.Options) { o.TrustedProxy = "127.0.0.1" })
	page, proxy := servePage(t, s.Handler())
	b := newBrowser(t, ctx) // English

	frontend := proxy.URL + frontendPath
	inFrame := func(expr string) string {
		return fmt.Sprintf(`(() => { const d = document.querySelector("#ingress").contentDocument; return %s; })()`, expr)
	}
	b.do("open the page on its own, in English",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#syncline`)),
	)
	if got := b.str(`document.querySelector("#sort-guest").textContent.trim()`); got != "Guest" {
		t.Fatalf("an English browser gets %q", got)
	}
	b.do("choose German in Home Assistant and open the sidebar",
		chromedp.Navigate(frontend),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("selectedLanguage", JSON.stringify("de"))`),
		chromedp.Reload(),
		poll("the add-on's page is in German", inFrame(`d && d.querySelector("#sort-guest")?.textContent.trim() === "Gast"`)),
	)
	if got := b.str(inFrame(`d.documentElement.lang + " " + d.querySelector("#rows .badge").textContent`)); got != "de Ausstehend" {
		t.Errorf("the page in Home Assistant reads %q, want de Ausstehend", got)
	}
	if got := b.str(inFrame(`d.location.pathname`)); got != ingressPrefix+"/" {
		t.Errorf("the page moved to %s, want it under the ingress path", got)
	}

	b.do("choose a language the page lacks",
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("selectedLanguage", JSON.stringify("fr"))`),
		chromedp.Reload(),
		poll("the page loaded", inFrame(`d && d.readyState === "complete" && !!d.querySelector("h1")`)),
	)
	if got := b.str(inFrame(`d.querySelector("#sort-guest").textContent.trim()`)); got != "Guest" {
		t.Errorf("with French in Home Assistant and an English browser the page reads %q, want English", got)
	}
}
