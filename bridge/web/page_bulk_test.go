package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// bulkCall is one call of the bulk endpoint, as the page made it.
type bulkCall struct {
	RequestID string `json:"request_id"`
	DryRun    bool   `json:"dry_run"`
	Guests    []struct {
		Name, Email, Language string
	} `json:"guests"`
}

// bulkRecorder notes the bodies of the calls to the bulk endpoint on their
// way to h.
type bulkRecorder struct {
	mu    sync.Mutex
	calls []bulkCall
}

func (rec *bulkRecorder) wrap(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/invitations/bulk" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("read a bulk call: %v", err)
			}
			var c bulkCall
			if err := json.Unmarshal(body, &c); err != nil {
				t.Errorf("the page sent a bulk call that is no JSON: %v", err)
			}
			rec.mu.Lock()
			rec.calls = append(rec.calls, c)
			rec.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	})
}

// take returns the calls since the last take.
func (rec *bulkRecorder) take() []bulkCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	calls := rec.calls
	rec.calls = nil
	return calls
}

// paste puts text into the field sel as pasting does, at the caret.
func paste(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		document.querySelector(%q).focus();
		document.execCommand("insertText", false, %q);
	})()`, sel, text))
}

// TestBrowserBulkInvitations invites a list of guests: pasted, checked,
// sent one by one with a moving progress bar; the refused row stays in the
// list, is fixed from a file and sent on its own.
func TestBrowserBulkInvitations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := newStack(t, ctx)
	srv, err := web.New(web.Options{Service: st.svc, TrustedProxy: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	var calls bulkRecorder
	page, _ := servePage(t, calls.wrap(t, srv.Handler()))
	b := newBrowser(t, ctx)

	results := `[...document.querySelectorAll("#bulk-results tbody tr")]`
	resultOf := func(line int) string {
		t.Helper()
		return b.content(fmt.Sprintf(`#bulk-results tr[data-line="%d"] td.result`, line))
	}
	b.do("open the list of guests",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#syncline`)),
		chromedp.Click(chromedp.CSS(`#create-card > summary`)),
		chromedp.Click(chromedp.CSS(`#create-mode input[value="bulk"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-text`)),
	)
	if b.visible(`#email`) || b.visible(`#create-submit`) {
		t.Error("the single guest's fields show next to the list")
	}
	b.do("paste three guests, one with a bad address, and check them",
		paste(`#bulk-text`, "Erika Mustermann, erika@example.com, de\nJohn Smith; john@example.com\nCarl Bad\tcarl@example"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#create input[name="lock"][value="%d"]`, st.lock.ID))),
		chromedp.Click(chromedp.CSS(`#bulk-check`)),
		poll("every row has its answer", results+`.length === 3 && !`+results+`.some(r => r.className === "is-waiting")`),
	)
	if got := b.content(`#bulk-summary`); got != "Ready: 2 · With a problem: 1" {
		t.Errorf("the check sums up %q", got)
	}
	for line, want := range map[int]string{1: "Ready", 2: "Ready",
		3: `Email "carl@example" is not an email address like guest@example.com.`} {
		if got := resultOf(line); got != want {
			t.Errorf("line %d: %q after the check, want %q", line, got, want)
		}
	}
	if got := b.content(`#bulk-results tr[data-line="1"] td:nth-child(3)`) + " " + b.content(`#bulk-results tr[data-line="2"] td:nth-child(3)`); got != "de en" {
		t.Errorf("the rows' languages read %q, want the list's de and the form's en", got)
	}
	check := calls.take()
	if len(check) != 1 || !check[0].DryRun || len(check[0].Guests) != 3 || check[0].Guests[2].Email != "carl@example" {
		t.Fatalf("the check made the calls %+v, want one dry run of the three guests", check)
	}
	if got := b.content(`#bulk-send`); got != "Send 2 invitations" || !b.is(`!document.querySelector("#bulk-send").disabled`) {
		t.Errorf("the send button reads %q (disabled: %v)", got, b.is(`document.querySelector("#bulk-send").disabled`))
	}

	// A change after the check asks for another check first.
	b.do("edit the list", chromedp.SendKeys(chromedp.CSS(`#bulk-text`), " "))
	if !b.is(`document.querySelector("#bulk-send").disabled`) || b.content(`#bulk-summary`) != "The list or the settings changed: check again before sending." {
		t.Errorf("after an edit the page still offers to send: %q", b.content(`#bulk-summary`))
	}
	b.do("check again",
		chromedp.Click(chromedp.CSS(`#bulk-check`)),
		poll("the send button is back", `!document.querySelector("#bulk-send").disabled`),
	)
	calls.take()

	b.do("send",
		chromedp.Click(chromedp.CSS(`#bulk-send`)),
		poll("the run ends", `document.querySelector("#bulk-summary").textContent.startsWith("Created")`),
	)
	if got := b.content(`#bulk-summary`); got != "Created: 2 · Refused: 1 The rows not created stay in the list: fix them and check again." {
		t.Errorf("the run sums up %q", got)
	}
	if got := b.str(`(() => { const p = document.querySelector("#bulk-progress"); return p.value + "/" + p.max + " " + document.querySelector("#bulk-percent").textContent; })()`); got != "2/2 100%" {
		t.Errorf("the progress bar ends at %q, want 2/2 100%%", got)
	}
	for line, want := range map[int]string{1: "Created", 2: "Created",
		3: `Refused: Email "carl@example" is not an email address like guest@example.com.`} {
		if got := resultOf(line); got != want {
			t.Errorf("line %d: %q after sending, want %q", line, got, want)
		}
	}
	if got := b.str(`document.querySelector("#bulk-text").value`); got != "Carl Bad\tcarl@example " {
		t.Errorf("the list keeps %q, want only the refused guest", got)
	}
	sent := calls.take()
	idPattern := regexp.MustCompile(`^web-[0-9a-f]{12}-[12]$`)
	if len(sent) != 2 {
		t.Fatalf("sending made %d calls, want one for each of the two guests: %+v", len(sent), sent)
	}
	for i, c := range sent {
		if c.DryRun || len(c.Guests) != 1 || !idPattern.MatchString(c.RequestID) {
			t.Errorf("call %d: %+v, want one guest, no dry run, request_id <batch>-<line>", i, c)
		}
	}
	if sent[0].RequestID[:len(sent[0].RequestID)-2] != sent[1].RequestID[:len(sent[1].RequestID)-2] {
		t.Errorf("the guests of one run have request ids of different batches: %s, %s", sent[0].RequestID, sent[1].RequestID)
	}
	b.do("see the new invitations in the table",
		poll("both guests show", `["erika@example.com", "john@example.com"].every(m => [...document.querySelectorAll("#rows .guest-email")].some(e => e.textContent === m))`),
	)
	for email, lang := range map[string]string{"erika@example.com": "de", "john@example.com": "en"} {
		invs := st.svc.Invitations(bridge.Filter{Text: email})
		if len(invs) != 1 || invs[0].Language != lang || invs[0].SmartlockID != st.lock.ID {
			t.Errorf("%s has the invitations %+v, want one to %s in %s", email, invs, st.lock.Name, lang)
		}
	}

	// The user fixes Carl's address in a spreadsheet and reads the file in;
	// a row without an address is marked by the page before it asks.
	file := filepath.Join(t.TempDir(), "guests.csv")
	if err := os.WriteFile(file, []byte("Name;E-Mail;Sprache\r\nCarl Good;carl@example.com;en\r\nDora;;de\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("read the fixed list from a file and check it",
		chromedp.SetUploadFiles(chromedp.CSS(`#bulk-file`), []string{file}),
		poll("the file is in the list", `document.querySelector("#bulk-text").value.includes("Carl Good")`),
		chromedp.Click(chromedp.CSS(`#bulk-check`)),
		poll("the check is done", `document.querySelector("#bulk-summary").textContent.startsWith("Ready")`),
	)
	if got := b.content(`#bulk-summary`); got != "Ready: 1 · With a problem: 1" {
		t.Errorf("the file's check sums up %q", got)
	}
	if got := resultOf(3); got != "The email address is missing." {
		t.Errorf("Dora's row reads %q, want the page's own words", got)
	}
	if check := calls.take(); len(check) != 1 || len(check[0].Guests) != 1 || check[0].Guests[0].Email != "carl@example.com" {
		t.Errorf("the check asked the daemon about %+v, want Carl only", check)
	}
	b.do("send the fixed row",
		chromedp.Click(chromedp.CSS(`#bulk-send`)),
		poll("the run ends", `document.querySelector("#bulk-summary").textContent.startsWith("Created")`),
	)
	if got := b.content(`#bulk-summary`); !strings.HasPrefix(got, "Created: 1 · Refused: 1") {
		t.Errorf("the second run sums up %q", got)
	}
	if got := b.str(`document.querySelector("#bulk-text").value`); got != "Name;E-Mail;Sprache\nDora;;de" {
		t.Errorf("the list keeps %q, want the header and Dora", got)
	}
	if invs := st.svc.Invitations(bridge.Filter{Text: "carl@example.com"}); len(invs) != 1 || invs[0].Name != "Carl Good" {
		t.Errorf("Carl has the invitations %+v, want one", invs)
	}
}
