package web_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

var rowID = regexp.MustCompile(`<tr data-id="([^"]+)"`)

// rowIDs lists the table's invitations in the order shown.
func rowIDs(html string) []string {
	var ids []string
	for _, m := range rowID.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestPageSortsByColumn(t *testing.T) {
	const all = "&status=pending,accepted,expired" // no folding: one list
	tests := []struct {
		target string
		want   []string
		active string // the header marked sorted, and how
	}{
		{"/?", []string{"11-1", "22-2", "11-3"}, `class="col-sent" aria-sort="descending"`}, // newest sent first, open ones above
		{"/?sort=guest" + all, []string{"11-1", "22-2", "11-3"}, `class="col-guest" aria-sort="ascending"`},
		{"/?sort=guest&dir=desc" + all, []string{"11-3", "22-2", "11-1"}, `class="col-guest" aria-sort="descending"`},
		{"/?sort=sent" + all, []string{"11-3", "22-2", "11-1"}, `class="col-sent" aria-sort="ascending"`},
		{"/?sort=lock&dir=desc" + all, []string{"22-2", "11-1", "11-3"}, `class="col-lock" aria-sort="descending"`},
		{"/?sort=status" + all, []string{"11-1", "22-2", "11-3"}, `class="col-status" aria-sort="ascending"`},
		{"/?sort=resends&dir=desc" + all, []string{"11-3", "11-1", "22-2"}, `class="col-resends" aria-sort="descending"`},
		// Bob accepted: his code no longer expires, he sorts last both ways.
		{"/?sort=expires" + all, []string{"11-3", "11-1", "22-2"}, `class="col-expires" aria-sort="ascending"`},
		{"/?sort=expires&dir=desc" + all, []string{"11-1", "11-3", "22-2"}, `class="col-expires" aria-sort="descending"`},
		{"/?sort=nonsense" + all, []string{"11-1", "22-2", "11-3"}, `class="col-sent" aria-sort="descending"`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			s, _ := newPageServer(t, nil)
			html := visible(do(t, s.Handler(), "GET", tt.target, "").Body.String())
			if got := rowIDs(html); !slices.Equal(got, tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
			if !strings.Contains(html, tt.active) {
				t.Errorf("no header says %s", tt.active)
			}
			if n := strings.Count(html, "aria-sort="); n != 1 {
				t.Errorf("%d headers say they are sorted, want 1", n)
			}
		})
	}

	s, _ := newPageServer(t, nil)
	html := visible(do(t, s.Handler(), "GET", "/?sort=guest&lock=11", "").Body.String())
	for _, want := range []string{
		`<a class="sort" id="sort-guest" href="?dir=desc&amp;lock=11&amp;sort=guest" title="Sort by Guest">Guest</a>`, // again: reversed
		`<a class="sort" id="sort-lock" href="?lock=11&amp;sort=lock" title="Sort by Lock">Lock</a>`,
		`<noscript><input type="hidden" name="sort" value="guest"><button type="submit">Filter</button></noscript>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestPageFoldsFinishedInvitations(t *testing.T) {
	s, _ := newPageServer(t, nil)
	get := func(target string) string {
		t.Helper()
		return visible(do(t, s.Handler(), "GET", target, "").Body.String())
	}

	html := get("/")
	if !strings.Contains(html, `<a id="fold-toggle" class="fold-toggle" href="?finished=1" title="Accepted, expired and revoked invitations" aria-expanded="false">Show 2 finished</a>`) {
		t.Error("the page does not offer to show the 2 finished invitations")
	}
	for _, id := range []string{"22-2", "11-3"} {
		if !strings.Contains(html, fmt.Sprintf(`data-id="%s" data-status="%s" class="finished" hidden>`, id, map[string]string{"22-2": "accepted", "11-3": "expired"}[id])) {
			t.Errorf("the finished invitation %s is not folded away", id)
		}
	}
	if !strings.Contains(html, `<tr data-id="11-1" data-status="pending">`) {
		t.Error("the open invitation is not shown as usual")
	}

	html = get("/?finished=1")
	if strings.Contains(html, `class="finished" hidden>`) || !strings.Contains(html, `href="./" title="Accepted, expired and revoked invitations" aria-expanded="true">Hide 2 finished</a>`) {
		t.Error("?finished=1 does not show the finished invitations with a toggle to hide them")
	}

	// Asked for by their status, finished invitations are not folded.
	html = get("/?status=accepted,expired")
	if strings.Contains(html, "fold-toggle") || strings.Contains(html, `class="finished" hidden>`) || len(rowIDs(html)) != 2 {
		t.Error("a status filter's finished invitations are folded away")
	}
	html = get("/?status=pending")
	if strings.Contains(html, "fold-toggle") {
		t.Error("a toggle shows without finished invitations")
	}

	html = get("/?q=bob")
	if !strings.Contains(html, `<tr class="empty"><td colspan="8">No open invitations.</td></tr><tr class="fold">`) ||
		!strings.Contains(html, ">Show 1 finished</a>") {
		t.Error("with only a finished invitation the table does not say there is no open one")
	}
}

func TestPageExportLinkFollowsFilters(t *testing.T) {
	s, _ := newPageServer(t, nil)
	for target, want := range map[string]string{
		"/": `href="api/v1/invitations.csv"`,
		"/?status=pending&lock=11&q=ali&sort=guest": `href="api/v1/invitations.csv?lock=11&amp;q=ali&amp;status=pending"`,
		"/?status=bogus": `href="api/v1/invitations.csv"`,
	} {
		html := visible(do(t, s.Handler(), "GET", target, "").Body.String())
		if !strings.Contains(html, `<a class="export" id="export" `+want+` download title="Download the invitations these filters show as a CSV file">Export CSV</a>`) {
			t.Errorf("%s: the export link is not %s", target, want)
		}
	}
}

// TestBrowserTableTools sorts the table by its headers, folds and unfolds
// the finished invitations, exports what the filters show and copies a
// code.
func TestBrowserTableTools(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rb := newPageBridge(t, bridge.Options{ExposeCodes: true}, bridge.Batch{Invitations: append(pageGuests(), dan("Dan")),
		Codes: map[bridge.InviteID]bridge.Secret{"22-8": "483920175"}})
	s := rb.server(func(o *web.Options) { o.TrustedProxy, o.ExposeCodes = "127.0.0.1", true })
	page, proxy := servePage(t, s.Handler())
	b := newBrowser(t, ctx)
	order := `[...document.querySelectorAll("#rows tr[data-id]")].map(r => r.dataset.id).join(" ")`

	b.do("open the page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#rows`)),
		poll("the event stream connects", `document.body.dataset.live === "sse"`),
	)
	if got := b.str(order); got != "22-8 11-1 22-2 11-3" {
		t.Errorf("the rows are in the order %q, want newest sent first", got)
	}
	b.do("sort by guest", click(`#sort-guest`),
		poll("sorted by guest", `document.querySelector("th.col-guest").getAttribute("aria-sort") === "ascending"`))
	if got := b.str(order); got != "11-1 22-8 22-2 11-3" {
		t.Errorf("sorted by guest the rows are %q", got)
	}
	b.do("again to reverse", click(`#sort-guest`),
		poll("reversed", `document.querySelector("th.col-guest").getAttribute("aria-sort") === "descending"`))
	if got := b.str(order); got != "22-8 11-1 11-3 22-2" {
		t.Errorf("sorted by guest backwards the rows are %q", got)
	}
	if focused := b.str(`document.activeElement.id`); focused != "sort-guest" {
		t.Errorf("after sorting the focus is on %q, want the header", focused)
	}

	// A live update keeps the order; so does a reload.
	zoe, err := rb.svc.Create(ctx, bridge.CreateRequest{Name: "Zoe", Email: "zoe@example.com", SmartlockIDs: []int64{frontDoor.ID}, Actor: "mqtt"})
	if err != nil {
		t.Fatal(err)
	}
	b.do("a new invitation arrives", poll("Zoe shows", fmt.Sprintf(`!!document.querySelector("#rows tr[data-id='%s']")`, zoe[0].ID)))
	byGuestBackwards := string(zoe[0].ID) + " 22-8 11-1 11-3 22-2"
	if got := b.str(order); got != byGuestBackwards {
		t.Errorf("after a live update the rows are %q, want still by guest backwards", got)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#rows`)))
	if got := b.str(order); got != byGuestBackwards {
		t.Errorf("after a reload the rows are %q, want still by guest backwards", got)
	}

	if b.visible(`tr[data-id="22-2"]`) {
		t.Error("the accepted invitation shows before it is asked for")
	}
	b.do("show the finished ones", click(`#fold-toggle`), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="22-2"]`)))
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="22-2"]`)))
	b.do("fold them again", click(`#fold-toggle`), chromedp.WaitNotVisible(chromedp.CSS(`tr[data-id="22-2"]`)))
	if got := b.content(`#fold-toggle`); got != "Show 2 finished" {
		t.Errorf("the toggle reads %q", got)
	}

	b.do("filter by a lock", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector("#filter-lock");
		s.value = "22";
		s.dispatchEvent(new Event("change", { bubbles: true }));
	})()`), poll("the table follows", `!document.querySelector("#rows tr[data-id='11-1']")`))
	if got := b.str(`document.querySelector("#export").getAttribute("href")`); got != "api/v1/invitations.csv?lock=22" {
		t.Errorf("the export link is %q, want the CSV of lock 22", got)
	}
	csv := b.str(`fetch(document.querySelector("#export").href).then(async r =>
		r.status + " " + r.headers.get("Content-Type") + " " + r.headers.get("Content-Disposition") + "\n" + await r.text())`)
	head, body, _ := strings.Cut(csv, "\n")
	if !strings.HasPrefix(head, "200 text/csv") || !strings.Contains(head, "attachment") {
		t.Errorf("the export answers %q", head)
	}
	if !strings.Contains(body, "dan@example.com") || strings.Contains(body, "alice@example.com") {
		t.Errorf("the export of lock 22 holds:\n%s", body)
	}

	// Copy: the Clipboard API where the page may use it, else the copy
	// command; either way the button says so.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: proxy.URL}); err != nil {
			t.Fatal(err)
		}
	}
	showCode := func(step string) {
		t.Helper()
		b.do(step,
			click(`tr[data-id="22-8"] button[data-action="code"]`),
			chromedp.WaitVisible(chromedp.CSS(`#copy-code`)),
			chromedp.Click(chromedp.CSS(`#copy-code`)),
			poll("the button says it copied", `document.querySelector("#copy-code").textContent === "Copied"`),
		)
		if got := b.str(`navigator.clipboard.readText()`); got != "483920175" {
			t.Errorf("%s: the clipboard holds %q, want the code", step, got)
		}
		b.do("close", chromedp.Click(chromedp.CSS(`#details form button`)), chromedp.WaitNotVisible(chromedp.CSS(`#details`)))
	}
	showCode("copy the code")
	b.do("take the Clipboard API away", chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText("").then(() => {
		navigator.clipboard.writeText = () => Promise.reject(new DOMException("not allowed", "NotAllowedError"));
	})`, chromedp.EvalAwaitPromise))
	showCode("copy the code without the Clipboard API")
}
