package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

//go:embed assets
var assetFS embed.FS

// page holds the parsed templates and the static assets with their ETags.
type page struct {
	tmpl   *template.Template
	assets map[string]asset
}

type asset struct {
	body []byte
	etag string
}

func newPage() (*page, error) {
	p := &page{assets: map[string]asset{}}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: read assets: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".tmpl") {
			continue
		}
		b, err := fs.ReadFile(assetFS, "assets/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: read asset %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		p.assets[e.Name()] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	p.tmpl, err = template.New("page").Funcs(template.FuncMap{
		"asset":       p.assetURL,
		"statusLabel": statusLabel,
		"statusNote":  statusNote,
		"eventLabel":  eventLabel,
		"since":       since,
		"stamp":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"expiry":      expiry,
		"canResend":   bridge.Status.Resendable,
		// An accepted invitation is re-sent only on purpose: the page
		// asks first, then sends "force".
		"canForceResend": func(s bridge.Status) bool { return s == bridge.StatusAccepted },
		"canRevoke":      func(s bridge.Status) bool { return s != bridge.StatusRevoked },
	}).ParseFS(assetFS, "assets/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	return p, nil
}

// assetURL is the relative URL of an asset, versioned by its content.
func (p *page) assetURL(name string) string {
	a, ok := p.assets[name]
	if !ok {
		return "assets/" + name
	}
	return "assets/" + name + "?v=" + strings.Trim(a.etag, `"`)
}

var statusLabels = map[bridge.Status]string{
	bridge.StatusSending: "Sending", bridge.StatusPending: "Pending", bridge.StatusExpiringSoon: "Expiring soon",
	bridge.StatusAccepted: "Accepted", bridge.StatusExpired: "Expired", bridge.StatusRevoked: "Revoked",
	bridge.StatusFailed: "Failed",
}

func statusLabel(s bridge.Status) string {
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return string(s)
}

// statusNote explains a status in a few words under its badge, or "".
func statusNote(s bridge.Status) string {
	if s == bridge.StatusSending {
		return "waiting for the lock"
	}
	return ""
}

// eventLabels name the history's events whose identifier alone reads
// badly; the others are their identifier in words ("code_ready" → "Code
// ready").
var eventLabels = map[bridge.EventType]string{
	bridge.EventUsed:     "Used the lock",    // detail: "unlock by app at …"
	bridge.EventEvidence: "Seen in Nuki Web", // detail: "lockCount 0 → 1; …"
	bridge.EventSkipped:  "Skipped",          // detail: what and why
}

func eventLabel(e bridge.EventType) string {
	if l, ok := eventLabels[e]; ok {
		return l
	}
	s := strings.ReplaceAll(string(e), "_", " ")
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// expiry is when the invitation's code stops working, as the page shows it:
// zero when that no longer matters (accepted, revoked) or is not known yet
// (sending: the validity starts when the lock confirms).
func expiry(inv bridge.Invitation) time.Time {
	switch inv.Status {
	case bridge.StatusSending, bridge.StatusAccepted, bridge.StatusRevoked:
		return time.Time{}
	}
	return inv.ExpiresAt
}

// since says how far t is from now in words: "in 5 h", "3 min ago",
// "just now", "in <1 min".
func since(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(now)
	future := d > 0
	if d < 0 {
		d = -d
	}
	var amount string
	switch {
	case d < time.Minute && future:
		return "in <1 min"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		amount = strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		amount = strconv.Itoa(int(d/time.Hour)) + " h"
	default:
		amount = strconv.Itoa(int(d/(24*time.Hour))) + " d"
	}
	if future {
		return "in " + amount
	}
	return amount + " ago"
}

type option struct {
	Value, Label string
	Selected     bool
}

// pageData is what the templates see.
type pageData struct {
	Now         time.Time
	Invitations []bridge.Invitation
	Locks       []bridge.Lock
	LockNames   map[int64]string
	State       bridge.SyncState
	StateLabel  string
	Counts      []countView
	Statuses    []option
	Languages   []language
	Weekdays    []string
	Lock        int64
	Query       string
	Filtered    bool // a status, lock or text filter is applied
	Notice      string
	ExposeCodes bool
	Diagnostics bool // the diagnostics download is offered
}

type language struct{ Code, Name string }

// languages are the choices of the create form, in Languages' order.
var languages = []language{
	{"en", "English"}, {"de", "Deutsch"}, {"es", "Español"}, {"fr", "Français"},
	{"it", "Italiano"}, {"nl", "Nederlands"}, {"cs", "Čeština"}, {"sk", "Slovenčina"},
}

type countView struct {
	Status bridge.Status
	N      int
}

// openStatuses is the status filter's "Open" choice: bridge.OpenStatuses.
var openStatuses = func() string {
	names := make([]string, len(bridge.OpenStatuses))
	for i, s := range bridge.OpenStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}()

func (s *Server) pageData(r *http.Request) pageData {
	f, err := parseFilter(r)
	d := pageData{Now: s.now(), ExposeCodes: s.opts.ExposeCodes, Diagnostics: s.opts.Diagnostics != nil, Languages: languages,
		Weekdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}
	if err != nil {
		d.Notice = detailOf(err, bridge.ErrInvalid) + "; showing all invitations"
		f = bridge.Filter{}
	}
	raw := strings.Join(r.URL.Query()["status"], ",")
	if err != nil {
		raw = ""
	}
	d.Statuses = []option{{Value: "", Label: "All statuses"}, {Value: openStatuses, Label: "Open"}}
	for _, st := range bridge.Statuses {
		d.Statuses = append(d.Statuses, option{Value: string(st), Label: statusLabel(st)})
	}
	matched := false
	for i := range d.Statuses {
		if d.Statuses[i].Value == raw {
			d.Statuses[i].Selected, matched = true, true
		}
	}
	if !matched {
		d.Statuses = append(d.Statuses, option{Value: raw, Label: strings.ReplaceAll(raw, ",", ", "), Selected: true})
	}
	d.Lock, d.Query = f.SmartlockID, f.Text
	d.Filtered = raw != "" || d.Lock != 0 || d.Query != ""
	d.Invitations = s.svc.Invitations(f)
	d.Locks = s.svc.Locks()
	d.LockNames = map[int64]string{}
	for _, l := range d.Locks {
		d.LockNames[l.ID] = l.Name
	}
	d.State = s.svc.SyncState()
	d.StateLabel = syncLabel(d.State.Status)
	for _, st := range bridge.Statuses {
		if n := d.State.Counts[st]; n > 0 {
			d.Counts = append(d.Counts, countView{Status: st, N: n})
		}
	}
	return d
}

func syncLabel(s bridge.SyncStatus) string {
	switch s {
	case bridge.SyncOK:
		return "Synced with Nuki Web"
	case bridge.SyncRunning:
		return "Syncing with Nuki Web…"
	case bridge.SyncAuthError:
		return "Nuki Web refused the API token"
	case bridge.SyncRateLimited:
		return "Nuki Web is rate limiting"
	case bridge.SyncUnreachable:
		return "Nuki Web is unreachable"
	case bridge.SyncStoreError:
		return "The database cannot be written"
	case bridge.SyncHeld:
		return "Sync held: it would close many invitations at once"
	}
	return "Not synced yet"
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := s.page.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render page", "template", name, "err", err)
		writeProblem(w, problem{Type: typeInternal, Status: http.StatusInternalServerError, Title: "Internal error",
			Detail: "the page could not be rendered"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	s.render(w, "index.html.tmpl", s.pageData(r))
}

// rowsPartial renders the sync line and the table body for live updates.
func (s *Server) rowsPartial(w http.ResponseWriter, r *http.Request) {
	s.render(w, "live", s.pageData(r))
}

// historyPartial renders one invitation's details for the history dialog.
func (s *Server) historyPartial(w http.ResponseWriter, r *http.Request) {
	id, err := inviteID(r)
	var inv bridge.Invitation
	if err == nil {
		inv, err = s.svc.Invitation(id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, "history", map[string]any{"Inv": inv, "Now": s.now()})
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.PathValue("file"))
	a, ok := s.page.assets[name]
	if !ok {
		writeProblem(w, problem{Type: typeNotFound, Status: http.StatusNotFound, Title: "Not found",
			Detail: "no asset " + name})
		return
	}
	if r.URL.Query().Get("v") == strings.Trim(a.etag, `"`) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
