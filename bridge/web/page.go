package web

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
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
		"asset":  p.assetURL,
		"stamp":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"expiry": expiry,
		"keypad": func(inv bridge.Invitation) bool { return inv.Keypad() },
		// A keypad code is never re-sent: it is revoked and made anew.
		"canResend": func(inv bridge.Invitation) bool { return !inv.Keypad() && inv.Status.Resendable() },
		// An accepted invitation is re-sent only on purpose: the page
		// asks first, then sends "force".
		"canForceResend": func(inv bridge.Invitation) bool { return !inv.Keypad() && inv.Status == bridge.StatusAccepted },
		"canShowCode":    canShowCode,
		"canRevoke":      func(s bridge.Status) bool { return s != bridge.StatusRevoked },
		"windowOf": func(l *locale, now, from, until time.Time) window {
			return window{L: l, Now: now, From: from, Until: until}
		},
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

// expiry is when the invitation's code stops working, as the page shows it:
// zero when that no longer matters (accepted, revoked) or is not known yet
// (sending: the validity starts when the lock confirms). A keypad code
// shows its window instead; it sorts by the window's end.
func expiry(inv bridge.Invitation) time.Time {
	if inv.Keypad() {
		return time.Time{}
	}
	switch inv.Status {
	case bridge.StatusSending, bridge.StatusAccepted, bridge.StatusRevoked:
		return time.Time{}
	}
	return inv.ExpiresAt
}

// canShowCode reports whether the page offers to reveal the code: an
// invitation's while it can still be redeemed, a keypad code's while the
// lock may still take it. The Service decides anyway.
func canShowCode(inv bridge.Invitation) bool {
	if !inv.HasCode {
		return false
	}
	if inv.Keypad() {
		return inv.Status != bridge.StatusRevoked && inv.Status != bridge.StatusEnded
	}
	return inv.Status.Resendable()
}

// window is what the "window" template shows: a keypad code's window,
// from and until (either may be zero), relative to now.
type window struct {
	L           *locale
	Now         time.Time
	From, Until time.Time
}

// since is Since in English.
func since(now, t time.Time) string { return locales["en"].Since(now, t) }

type option struct {
	Value, Label string
	Selected     bool
}

// pageData is what the templates see.
type pageData struct {
	L   *locale
	Now time.Time

	// Rows are the invitations shown, sorted; when Fold is set the open
	// ones come first (OpenCount of them) and the finished ones follow,
	// hidden unless ShowFinished.
	Rows         []bridge.Invitation
	OpenCount    int
	Fold         bool
	ShowFinished bool
	FoldHref     string // the link that shows or hides the finished ones
	Columns      []column
	ExportHref   string
	Keep         []param // view parameters the filter form carries without script

	Locks       []bridge.Lock
	KeypadLocks int // locks with a keypad paired
	LockNames   map[int64]string
	// Unmanaged are the keypad codes made elsewhere, to adopt.
	Unmanaged   []UnmanagedCode
	State       bridge.SyncState
	Counts      []countView
	Statuses    []option
	Languages   []language
	Weekdays    []option
	Lock        int64
	Query       string
	Filtered    bool // a status, lock or text filter is applied
	Notice      string
	ExposeCodes bool
	Diagnostics bool // the diagnostics download is offered
}

// Finished is how many finished invitations follow the open ones.
func (d pageData) Finished() int { return len(d.Rows) - d.OpenCount }

type language struct{ Code, Name string }

type param struct{ Name, Value string }

// languages are the choices of the create form, in Languages' order.
var languages = []language{
	{"en", "English"}, {"de", "Deutsch"}, {"es", "Español"}, {"fr", "Français"},
	{"it", "Italiano"}, {"nl", "Nederlands"}, {"cs", "Čeština"}, {"sk", "Slovenčina"},
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

type countView struct {
	Status bridge.Status
	N      int
}

// openStatuses is the status filter's "Open" choice: the statuses of
// invitations and keypad codes that may still change by themselves.
var openStatuses = func() string {
	var names []string
	for _, s := range filterStatuses {
		if s.Open() {
			names = append(names, string(s))
		}
	}
	return strings.Join(names, ",")
}()

// The query parameters of the page's view, next to the filters: the sort
// column and direction, and whether finished invitations are shown.
const (
	sortParam     = "sort"
	dirParam      = "dir"
	finishedParam = "finished"
)

func (s *Server) pageData(r *http.Request) pageData {
	l := localeFor(r)
	f, err := parseFilter(r)
	d := pageData{L: l, Now: s.now(), ExposeCodes: s.opts.ExposeCodes, Diagnostics: s.opts.Diagnostics != nil, Languages: languages}
	for _, w := range weekdays {
		d.Weekdays = append(d.Weekdays, option{Value: w, Label: l.T("weekday." + w)})
	}
	if err != nil {
		d.Notice = l.F("page.notice.bad_filter", "detail", detailOf(err, bridge.ErrInvalid))
		f = bridge.Filter{}
	}
	q := r.URL.Query()
	raw := strings.Join(q["status"], ",")
	if err != nil {
		raw = ""
	}
	d.Statuses = []option{{Value: "", Label: l.T("filter.status.all")}, {Value: openStatuses, Label: l.T("filter.status.open")}}
	for _, st := range filterStatuses {
		d.Statuses = append(d.Statuses, option{Value: string(st), Label: l.Status(st)})
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
	d.ExportHref = exportHref(raw, d.Lock, d.Query)

	v := viewOfQuery(q)
	d.Columns = v.columns(l, q)
	d.Rows = s.svc.Invitations(f)
	sortInvitations(d.Rows, v.sort, v.desc)
	// Finished invitations fold away unless a status filter asks for them.
	if raw == "" {
		d.OpenCount = partitionOpen(d.Rows)
		d.Fold = d.OpenCount < len(d.Rows)
	} else {
		d.OpenCount = len(d.Rows)
	}
	d.ShowFinished = v.finished
	if v.finished {
		d.FoldHref = withParam(q, finishedParam, "")
	} else {
		d.FoldHref = withParam(q, finishedParam, "1")
	}
	for _, name := range []string{sortParam, dirParam, finishedParam, langParam} {
		if val := q.Get(name); val != "" {
			d.Keep = append(d.Keep, param{Name: name, Value: val})
		}
	}

	d.Locks = s.svc.Locks()
	d.LockNames = map[int64]string{}
	for _, lk := range d.Locks {
		d.LockNames[lk.ID] = lk.Name
		if lk.Keypad {
			d.KeypadLocks++
		}
	}
	d.Unmanaged = unmanagedOf(s.svc.UnmanagedKeypadCodes(), d.Locks)
	d.State = s.svc.SyncState()
	for _, st := range filterStatuses {
		if n := d.State.Counts[st]; n > 0 {
			d.Counts = append(d.Counts, countView{Status: st, N: n})
		}
	}
	return d
}

// exportHref is the relative URL of the CSV export of what the filters
// show.
func exportHref(status string, lock int64, text string) string {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if lock != 0 {
		q.Set("lock", strconv.FormatInt(lock, 10))
	}
	if text != "" {
		q.Set("q", text)
	}
	if len(q) == 0 {
		return "api/v1/invitations.csv"
	}
	return "api/v1/invitations.csv?" + q.Encode()
}

// withParam is the relative URL of the page with q, name set to value (or
// removed when value is empty).
func withParam(q url.Values, name, value string) string {
	q = maps.Clone(q)
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	if len(q) == 0 {
		return "./"
	}
	return "?" + q.Encode()
}

// view is how the table is shown: sorted by which column, which way, and
// whether the finished invitations are unfolded.
type view struct {
	sort     string
	desc     bool
	finished bool
}

// sortKeys are the sortable columns, in the table's order.
var sortKeys = []string{"status", "guest", "lock", "sent", "expires", "used", "resends"}

// viewOfQuery reads the view from the page's query: by default newest sent
// first, finished ones folded.
func viewOfQuery(q url.Values) view {
	v := view{sort: "sent", desc: true, finished: q.Get(finishedParam) == "1"}
	if key := q.Get(sortParam); slices.Contains(sortKeys, key) {
		v.sort, v.desc = key, q.Get(dirParam) == "desc"
	}
	return v
}

// column is one sortable header of the table.
type column struct {
	Key, Label, Hint string
	Href             string // sorts by this column; again reverses
	Sort             string // aria-sort: "ascending", "descending" or ""
}

func (v view) columns(l *locale, q url.Values) []column {
	cols := make([]column, len(sortKeys))
	for i, key := range sortKeys {
		c := column{Key: key, Label: l.T("col." + key)}
		c.Hint = l.F("sort.hint", "column", c.Label)
		next := url.Values(maps.Clone(q))
		next.Set(sortParam, key)
		next.Del(dirParam)
		if key == v.sort {
			c.Sort = "ascending"
			if v.desc {
				c.Sort = "descending"
			} else {
				next.Set(dirParam, "desc")
			}
		}
		c.Href = "?" + next.Encode()
		cols[i] = c
	}
	return cols
}

// sortInvitations sorts invs by the column key, stably, so that equal ones
// keep the Service's order. Missing times (never used, no expiry) come
// last either way.
func sortInvitations(invs []bridge.Invitation, key string, desc bool) {
	dir := 1
	if desc {
		dir = -1
	}
	byTime := func(a, b time.Time) int {
		switch {
		case a.IsZero() && b.IsZero():
			return 0
		case a.IsZero():
			return 1
		case b.IsZero():
			return -1
		}
		return dir * a.Compare(b)
	}
	text := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	slices.SortStableFunc(invs, func(a, b bridge.Invitation) int {
		switch key {
		case "status":
			return dir * cmp.Compare(slices.Index(filterStatuses, a.Status), slices.Index(filterStatuses, b.Status))
		case "guest":
			return dir * cmp.Or(cmp.Compare(text(cmp.Or(a.Name, a.Email)), text(cmp.Or(b.Name, b.Email))),
				cmp.Compare(text(a.Email), text(b.Email)))
		case "lock":
			return dir * cmp.Compare(text(a.LockName), text(b.LockName))
		case "sent":
			return byTime(a.SentAt, b.SentAt)
		case "expires":
			return byTime(sortExpiry(a), sortExpiry(b))
		case "used":
			return byTime(a.LastUsedAt, b.LastUsedAt)
		case "resends":
			return dir * cmp.Compare(a.ResendCount, b.ResendCount)
		}
		return 0
	})
}

// sortExpiry is what the Expires column sorts by: an invitation's expiry,
// a keypad code's window end.
func sortExpiry(inv bridge.Invitation) time.Time {
	if inv.Keypad() {
		return inv.Access.Until
	}
	return expiry(inv)
}

// partitionOpen moves the open invitations before the finished ones
// (accepted, expired, revoked), keeping each group's order, and returns how
// many are open.
func partitionOpen(invs []bridge.Invitation) int {
	slices.SortStableFunc(invs, func(a, b bridge.Invitation) int {
		return cmp.Compare(boolInt(!a.Status.Open()), boolInt(!b.Status.Open()))
	})
	n := 0
	for n < len(invs) && invs[n].Status.Open() {
		n++
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type historyData struct {
	L   *locale
	Inv bridge.Invitation
	Now time.Time
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
	h.Set("Vary", "Accept-Language")
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
	s.render(w, "history", historyData{L: localeFor(r), Inv: inv, Now: s.now()})
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
