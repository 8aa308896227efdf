package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// keypadGuest is a keypad code on the front door, as a restored backup
// holds it: the lock has it, its window opens in a day and lasts three.
func keypadGuest() bridge.Invitation {
	window := bridge.Access{From: fakeNow.Add(24 * time.Hour), Until: fakeNow.Add(96 * time.Hour)}
	return bridge.Invitation{ID: bridge.MakeKeypadID(frontDoor.ID, 1), Kind: bridge.KindKeypad, SmartlockID: frontDoor.ID,
		Name: "Gustav", LockName: frontDoor.Name, Delivery: bridge.DeliveryCustom, TimeZone: "Europe/Berlin", Access: window,
		Send: 1, SentAt: fakeNow.Add(-time.Hour), ConfirmedAt: fakeNow.Add(-time.Hour), HasCode: true,
		History: []bridge.HistoryEntry{{At: fakeNow.Add(-time.Hour), Event: bridge.EventCreated, Actor: "web"}}}
}

// The list shows a keypad code with its kind, its status in the page's
// language and its window instead of an expiry, never a Re-send button;
// the status filter offers the keypad statuses.
func TestPageShowsKeypadCodes(t *testing.T) {
	rb := newRealBridgeAt(t, bridge.Options{ExposeCodes: true}, fakeNow.Add(-3*time.Minute))
	if err := rb.sim.SetKeypad(frontDoor.ID, nukisim.Keypad1); err != nil {
		t.Fatal(err)
	}
	gustav := keypadGuest()
	onLock, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: frontDoor.ID, Type: bridge.AuthTypeKeypadCode, Name: gustav.Name,
		Code: "358246", Enabled: true, Access: gustav.Access})
	if err != nil {
		t.Fatal(err)
	}
	gustav.AuthID = onLock.ID
	rb.storeBatch(bridge.Batch{Invitations: append(pageGuests(), gustav), Codes: map[bridge.InviteID]bridge.Secret{gustav.ID: "358246"}})
	rb.sync()
	rb.clock.Advance(3 * time.Minute)
	s := rb.server(func(o *web.Options) { o.ExposeCodes = true })
	tests := []struct {
		lang, status, kind, window, filter string
	}{
		{"en", "Scheduled", "Keypad code", `data-label="Window"`, `<option value="scheduled">Scheduled</option>`},
		{"de", "Geplant", "Keypad-Code", `data-label="Zeitfenster"`, `<option value="scheduled">Geplant</option>`},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			html := visible(do(t, s.Handler(), "GET", "/?lang="+tt.lang, "").Body.String())
			r := row(html, "11-k1")
			if !strings.Contains(r, `data-status="scheduled"`) || !strings.Contains(r, ">"+tt.status+"</span>") {
				t.Errorf("the keypad code's row lacks its status %q:\n%s", tt.status, r)
			}
			if !strings.Contains(r, `class="kind keypad"`) || !strings.Contains(r, tt.kind) {
				t.Errorf("the keypad code's row does not say what it is (%q):\n%s", tt.kind, r)
			}
			if !strings.Contains(r, tt.window) || !strings.Contains(r, fmt.Sprintf(`<time datetime="%s">`, fakeNow.Add(24*time.Hour).Format(time.RFC3339))) ||
				!strings.Contains(r, fmt.Sprintf(`<time datetime="%s">`, fakeNow.Add(96*time.Hour).Format(time.RFC3339))) {
				t.Errorf("the keypad code's row does not show its window:\n%s", r)
			}
			if strings.Contains(r, `data-action="resend"`) {
				t.Errorf("a keypad code offers a re-send:\n%s", r)
			}
			if !strings.Contains(r, `data-action="revoke"`) || !strings.Contains(r, `data-action="code" data-id="11-k1" data-kind="keypad"`) {
				t.Errorf("a keypad code lacks Revoke or Show code:\n%s", r)
			}
			if !strings.Contains(html, tt.filter) {
				t.Errorf("the status filter does not offer %s", tt.filter)
			}
		})
	}
	history := visible(do(t, s.Handler(), "GET", "/partials/invitations/11-k1", "").Body.String())
	for _, want := range []string{"<dt>Kind</dt><dd>Keypad code</dd>", "<dt>Window</dt>", "(Europe/Berlin)"} {
		if !strings.Contains(history, want) {
			t.Errorf("the keypad code's history lacks %q:\n%s", want, history)
		}
	}
	if strings.Contains(history, "<dt>Delivery</dt>") || strings.Contains(history, "358246") {
		t.Errorf("the keypad code's history shows a delivery or the code:\n%s", history)
	}
}

// Keypad codes made elsewhere are listed in their own section, without
// their digits, each with an Adopt button; the section is hidden when
// there are none.
func TestPageListsUnmanagedKeypadCodes(t *testing.T) {
	s, rb := newPageServer(t, nil)
	if html := do(t, s.Handler(), "GET", "/", "").Body.String(); !strings.Contains(html, `<section id="unmanaged" class="card unmanaged" aria-labelledby="unmanaged-title" hidden>`) {
		t.Error("with no codes made elsewhere the section is not hidden")
	}
	if err := rb.sim.SetKeypad(frontDoor.ID, nukisim.Keypad1); err != nil {
		t.Fatal(err)
	}
	made, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: frontDoor.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: "468135", Enabled: true, Access: bridge.Access{Until: fakeNow.Add(72 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	rb.sync()
	for _, target := range []string{"/?lang=de", "/partials/invitations?lang=de"} {
		html := visible(do(t, s.Handler(), "GET", target, "").Body.String())
		_, section, _ := strings.Cut(html, `<section id="unmanaged"`)
		section, _, _ = strings.Cut(section, "</section>")
		for _, want := range []string{"Anderswo angelegte Keypad-Codes", "<td class=\"guest\" data-label=\"Name\">Cleaner</td>",
			"Front door", `<span class="muted">jetzt</span> → <time datetime="2026-05-07T12:00:00Z">in 3 Tagen</time>`, fmt.Sprintf(`data-action="adopt" data-lock="11" data-auth="%s"`, made.ID), ">Übernehmen</button>"} {
			if !strings.Contains(section, want) {
				t.Errorf("%s: the section of codes made elsewhere lacks %q:\n%s", target, want, section)
			}
		}
		if strings.Contains(section, " hidden>") || strings.Contains(html, "468135") {
			t.Errorf("%s: the section is hidden, or the page shows the code's digits", target)
		}
	}
}

// TestBrowserKeypadCodes drives the page in headless Chromium: create a
// keypad code with the form (a code in use refused first), see it sending
// and then scheduled once the lock has it, reveal it, and adopt a code
// made elsewhere.
func TestBrowserKeypadCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	st := newStackWith(t, ctx, bridge.Options{ExposeCodes: true})
	if err := st.sim.SetKeypad(st.lock.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	const taken, code = "468135", "357913"
	if _, err := st.sim.AddAuth(bridge.Auth{SmartlockID: st.lock.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: taken, Enabled: true, Access: bridge.Access{Until: time.Now().Add(72 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	syncNow := func() {
		t.Helper()
		if err := st.svc.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	syncNow()
	srv, err := web.New(web.Options{Service: st.svc, TrustedProxy: "127.0.0.1", ExposeCodes: true})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := servePage(t, srv.Handler())
	b := newBrowser(t, ctx)
	do, text := b.do, b.text

	do("open the page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#unmanaged`)),
		poll("the event stream connects", `document.body.dataset.live === "sse"`),
	)
	if got := text(`#unmanaged tbody`); !strings.Contains(got, "Cleaner") || !strings.Contains(got, "Front door") || strings.Contains(got, taken) {
		t.Errorf("the codes made elsewhere read %q, want the cleaner's on the front door without its digits", got)
	}
	if !b.is(`[...document.querySelectorAll("#filter-status option")].some(o => o.value === "scheduled" && o.textContent === "Scheduled")`) {
		t.Error("the status filter does not offer Scheduled")
	}

	do("choose a keypad code",
		chromedp.Click(chromedp.CSS(`#create-card > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#name`)),
		chromedp.Click(chromedp.CSS(`#create input[name="kind"][value="keypad"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	for sel, want := range map[string]bool{
		`#create fieldset.delivery`: false, `#create fieldset.remote`: false, `#create-mode`: false,
		`#time-zone`: true, `#allowed-until`: true, `#email`: true,
		fmt.Sprintf(`#locks label[data-keypad="true"] input[value="%d"]`, st.lock.ID): true,
		`#locks label[data-keypad="false"]`:                                           false,
	} {
		if got := b.visible(sel); got != want {
			t.Errorf("for a keypad code %s shows: %t, want %t", sel, got, want)
		}
	}
	if got := text(`#create-submit`); got != "Create keypad code" {
		t.Errorf("the button reads %q", got)
	}

	do("send it without an end",
		chromedp.SendKeys(chromedp.CSS(`#name`), "Gustav"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#create input[name="lock"][value="%d"]`, st.lock.ID))),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-error`)),
	)
	if got := text(`#create-error`); !strings.Contains(got, "a keypad code needs an end") {
		t.Errorf("the form says %q without an end, want it to ask for one", got)
	}
	local := func(t time.Time) string { return t.Local().Format("2006-01-02T15:04") }
	from, until := time.Now().Add(24*time.Hour), time.Now().Add(96*time.Hour)
	do("send a code in use",
		chromedp.SetValue(chromedp.CSS(`#allowed-from`), local(from)),
		chromedp.SetValue(chromedp.CSS(`#allowed-until`), local(until)),
		chromedp.SendKeys(chromedp.CSS(`#code`), taken),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		poll("the refusal shows", `document.querySelector("#create-error").textContent.includes("already used")`),
	)
	if got := text(`#create-error`); strings.Contains(got, taken) {
		t.Errorf("the refusal shows the code: %q", got)
	}
	b.is(`(() => { document.querySelector("#code").value = ""; return true; })()`)
	do("send another code",
		chromedp.SendKeys(chromedp.CSS(`#code`), code),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		poll("the keypad code appears", `[...document.querySelectorAll("#rows tr")].some(r => r.querySelector(".guest-name")?.textContent === "Gustav")`),
	)
	id := b.str(`[...document.querySelectorAll("#rows tr")].find(r => r.querySelector(".guest-name")?.textContent === "Gustav").dataset.id`)
	row := fmt.Sprintf(`tr[data-id="%s"]`, id)
	if got := text(row + ` td.status`); got != "Sending\nwaiting for the lock" {
		t.Errorf("the new keypad code reads %q, want Sending, waiting for the lock", got)
	}
	if got := text(row + ` .kind`); got != "Keypad code" {
		t.Errorf("the row names its kind %q, want Keypad code", got)
	}
	if got := text(row + ` td.window`); !strings.Contains(got, "in 23 h") && !strings.Contains(got, "in 24 h") || !strings.Contains(got, "in 3 d") && !strings.Contains(got, "in 4 d") {
		t.Errorf("the row's window reads %q, want from in a day to in four", got)
	}
	if b.is(fmt.Sprintf(`!!document.querySelector('%s button[data-action="resend"]')`, row)) {
		t.Error("a keypad code offers Re-send")
	}
	if got := b.str(`document.querySelector('#create input[name="kind"]:checked').value`); got != "app" {
		t.Errorf("after the create the form's kind is %q, want app again", got)
	}

	syncNow()
	do("see it scheduled without reloading", chromedp.WaitVisible(chromedp.CSS(row+`[data-status="scheduled"]`)))
	if got := text(row + ` .badge`); got != "Scheduled" {
		t.Errorf("the keypad code shows %q once the lock has it, want Scheduled", got)
	}
	do("show the code",
		click(row+` button[data-action="code"]`),
		chromedp.WaitVisible(chromedp.CSS(`#details p.code`)),
	)
	if got, title := text(`#details p.code`), text(`#details-title`); got != code || title != "Keypad code for Gustav · Front door" {
		t.Errorf("the code dialog shows %q under %q", got, title)
	}
	do("close the code", chromedp.Click(chromedp.CSS(`#details form button`)), chromedp.WaitNotVisible(chromedp.CSS(`#details`)))

	do("adopt the code made elsewhere",
		click(`#unmanaged button[data-action="adopt"]`),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	if got := text(`#confirm-text`); !strings.Contains(got, "Cleaner · Front door") {
		t.Errorf("the confirmation says %q, want the code's name and lock", got)
	}
	do("confirm the adoption",
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		poll("the adopted code is listed", `[...document.querySelectorAll("#rows tr")].some(r => r.querySelector(".guest-name")?.textContent === "Cleaner" && r.dataset.status === "active")`),
		poll("the section of codes made elsewhere hides", `document.querySelector("#unmanaged").hidden`),
	)
	adopted := st.svc.Invitations(bridge.Filter{Text: "Cleaner"})
	if len(adopted) != 1 || !adopted[0].Adopted || adopted[0].Kind != bridge.KindKeypad {
		t.Fatalf("the Service holds %+v, want the cleaner's code adopted", adopted)
	}
	inv, err := st.svc.Invitation(adopted[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := lastDetail(inv.History, "a keypad code made elsewhere"); e.Actor != "web:tester" {
		t.Errorf("the adoption is recorded for %q, want web:tester", e.Actor)
	}
}
