package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// office is the third lock of the showcase.
var office = bridge.Lock{ID: 33, Name: "Office", Type: 4}

// showcase returns invitations in every status, on three locks, as the
// README shows them.
func showcase() []bridge.Invitation {
	h := time.Hour
	lockName := map[int64]string{frontDoor.ID: frontDoor.Name, gardenGate.ID: gardenGate.Name, office.ID: office.Name}
	var out []bridge.Invitation
	for _, inv := range []bridge.Invitation{
		{SmartlockID: 22, AccountUserID: 1, Name: "Greta Olsen", Email: "greta@example.com", Status: bridge.StatusPending,
			Delivery: bridge.DeliveryCustom, HasCode: true, SentAt: fakeNow.Add(-10 * time.Minute), ExpiresAt: fakeNow.Add(47 * h)},
		{SmartlockID: 11, AccountUserID: 2, Name: "Alice Martin", Email: "alice@example.com", Status: bridge.StatusPending,
			SentAt: fakeNow.Add(-2 * h), ExpiresAt: fakeNow.Add(46 * h)},
		{SmartlockID: 33, AccountUserID: 3, Name: "Eva Schmidt", Email: "eva@example.com", Status: bridge.StatusFailed,
			SentAt: fakeNow.Add(-3 * h), LastError: "lock offline", FailedAt: fakeNow.Add(-h)},
		{SmartlockID: 22, AccountUserID: 4, Name: "Farid Haddad", Email: "farid@example.com", Status: bridge.StatusSending,
			SentAt: fakeNow.Add(-20 * time.Second)},
		{SmartlockID: 22, AccountUserID: 5, Name: "Bob Keller", Email: "bob@example.com", Status: bridge.StatusExpiringSoon,
			SentAt: fakeNow.Add(-40 * h), ExpiresAt: fakeNow.Add(8 * h), ResendCount: 1},
		{SmartlockID: 33, AccountUserID: 6, Name: "David Novak", Email: "david@example.com", Status: bridge.StatusAccepted,
			SentAt: fakeNow.Add(-26 * h), ExpiresAt: fakeNow.Add(22 * h), AcceptedAt: fakeNow.Add(-20 * h),
			AcceptedSignal: bridge.SignalActivityLog, LastUsedAt: fakeNow.Add(-5 * h)},
		{SmartlockID: 11, AccountUserID: 7, Name: "Chloé Dubois", Email: "chloe@example.com", Status: bridge.StatusExpired,
			SentAt: fakeNow.Add(-74 * h), ExpiresAt: fakeNow.Add(-26 * h)},
		{SmartlockID: 11, AccountUserID: 8, Name: "Hugo Lambert", Email: "hugo@example.com", Status: bridge.StatusRevoked,
			SentAt: fakeNow.Add(-100 * h), ExpiresAt: fakeNow.Add(-52 * h), RevokedAt: fakeNow.Add(-50 * h), LastUsedAt: fakeNow.Add(-60 * h)},
	} {
		inv.Send = 1 + inv.ResendCount
		inv.ConfirmedAt = inv.ExpiresAt.Add(-48 * h)
		if inv.ExpiresAt.IsZero() {
			inv.ConfirmedAt = time.Time{}
		}
		if inv.Delivery == "" {
			inv.Delivery = bridge.DeliveryNuki
		}
		inv.LockName = lockName[inv.SmartlockID]
		out = append(out, inv)
	}
	return out
}

// TestBrowserShowcase renders the page with every status and the list of
// guests checked. With -update it rewrites docs/demo.png (the README's
// picture: every status) and docs/screenshot.png (a list of guests checked
// above a few invitations).
func TestBrowserShowcase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Synced a minute ago, with the office's lock in the account too.
	rb := newRealBridgeAt(t, bridge.Options{ExposeCodes: true}, fakeNow.Add(-time.Minute))
	rb.sim.AddLock(office)
	rb.storeBatch(bridge.Batch{Invitations: showcase()})
	rb.sync()
	rb.clock.Advance(time.Minute)
	s := rb.server(func(o *web.Options) { o.TrustedProxy, o.ExposeCodes = "127.0.0.1", true })
	page, _ := servePage(t, s.Handler())
	b := newBrowser(t, ctx)
	shoot := func(name string) {
		t.Helper()
		b.do("tidy up", chromedp.Evaluate[chromedp.Void](`document.querySelector("#toast").hidden = true; document.activeElement.blur()`))
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	b.do("open the page with the finished invitations shown",
		chromedp.Navigate(page+"?finished=1"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-status="revoked"]`)),
	)
	for _, st := range bridge.Statuses {
		if !b.visible(`#rows .badge.` + string(st)) {
			t.Errorf("no %s invitation shows", st)
		}
	}
	shoot("demo.png")

	b.do("check a list of guests",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#rows`)),
		chromedp.Click(chromedp.CSS(`#create-card > summary`)),
		chromedp.Click(chromedp.CSS(`#create-mode input[value="bulk"]`)),
		paste(`#bulk-text`, "Name, Email, Language\nIngrid Berg, ingrid@example.com, de\nTom Baker; tom@example.com\nLena Vogel, lena@example"),
		chromedp.Click(chromedp.CSS(`#create input[name="lock"][value="11"]`)),
		chromedp.Click(chromedp.CSS(`#bulk-check`)),
		poll("the check is done", `document.querySelector("#bulk-summary").textContent.startsWith("Ready")`),
	)
	if got := b.content(`#bulk-summary`); got != "Ready: 2 · With a problem: 1" {
		t.Errorf("the check sums up %q", got)
	}
	if got := b.content(`#fold-toggle`); got != "Show 3 finished" {
		t.Errorf("the toggle reads %q", got)
	}
	shoot("screenshot.png")
}
