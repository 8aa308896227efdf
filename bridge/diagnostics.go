package bridge

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file builds the diagnostics bundle: what the account really did, as a
// user can hand it over, with nothing personal or secret in it.

// DiagnosticsInfo is what the caller adds to a diagnostics bundle.
type DiagnosticsInfo struct {
	// Version is the program's version.
	Version string
	// Config holds the non-secret settings, name → value. The caller leaves
	// the secrets out; the values are scrubbed like any other free text.
	Config map[string]string
	// Source says where the bundle was made: DiagnosticsFromDaemon or
	// DiagnosticsFromDatabase. Only a running daemon has a sync state: a
	// bundle made from a database has none.
	Source string
}

// The sources of a diagnostics bundle.
const (
	DiagnosticsFromDaemon   = "daemon"   // a running daemon's Service
	DiagnosticsFromDatabase = "database" // a Service opened on a stopped daemon's database
)

// Diagnostics is a bundle of what the bridge knows about each invitation's
// life, made to be handed to the developers. It is a value owned by the
// caller; encode it as JSON.
//
// What it holds: the settings given in DiagnosticsInfo, the sync state, and
// one DiagnosticsTimeline per invitation. What it never holds: guest names,
// e-mail addresses, lock names, Nuki's authorization and request ids, invite
// codes (the stored codes are never read) or the user name of a web actor.
// The ids of invitations, locks and users are replaced by keyed hashes
// (HMAC-SHA256 under a random key made for this bundle alone and then
// forgotten, first 12 hex digits): within one bundle the same id has the same
// hash, so timelines stay linkable, but no bundle leads back to an id, and two
// bundles cannot be linked with each other. Every free text (history details,
// errors, settings) is scrubbed, see DiagnosticsTimeline.
type Diagnostics struct {
	GeneratedAt time.Time         `json:"generated_at"`
	Version     string            `json:"version"`
	Source      string            `json:"source,omitempty"`
	Config      map[string]string `json:"config"`
	// Sync is the link to Nuki Web; nil in a bundle made from a database.
	Sync *DiagnosticsSync `json:"sync,omitempty"`
	// Locks is how many locks the account has.
	Locks int `json:"locks"`
	// Invitations are oldest sending first.
	Invitations []DiagnosticsTimeline `json:"invitations"`
}

// DiagnosticsSync is the sync state in a diagnostics bundle.
type DiagnosticsSync struct {
	Status    SyncStatus     `json:"status"`
	LastSync  time.Time      `json:"last_sync,omitzero"`
	LastError string         `json:"last_error,omitempty"` // scrubbed
	Counts    map[Status]int `json:"counts"`
}

// DiagnosticsTimeline is one invitation in a diagnostics bundle: its facts
// and its history, with hashed ids and scrubbed texts.
//
// Scrubbing removes from a text: credentials in URLs and tokens in query
// strings or after "Bearer" ("<redacted>"), e-mail addresses ("<email>"),
// the names and e-mail addresses of the guests, users and locks the bridge
// knows ("<guest>", "<lock>", "<email>"), Nuki's authorization and request
// ids and the raw invitation ids ("<auth>", "<request>", "<invite>"), UUIDs
// and hexadecimal ids of 16 digits or more ("<id>"), and every run of six or
// more digits ("<number>"), which covers invite codes, keypad codes and
// Nuki's numeric ids. Dates and times stay readable: their digit runs are
// shorter, and the fraction of a second is kept.
type DiagnosticsTimeline struct {
	Invite string `json:"invite"` // hashed invitation id
	Lock   string `json:"lock"`   // hashed lock id
	User   string `json:"user"`   // hashed account user id

	Status      Status   `json:"status"`
	Delivery    Delivery `json:"delivery"`
	Adopted     bool     `json:"adopted"`
	Send        int      `json:"send"`
	ResendCount int      `json:"resend_count"`
	AutoResends int      `json:"auto_resends,omitempty"`

	SentAt         time.Time `json:"sent_at,omitzero"`
	ConfirmedAt    time.Time `json:"confirmed_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
	LastUsedAt     time.Time `json:"last_used_at,omitzero"`
	AcceptedAt     time.Time `json:"accepted_at,omitzero"`
	AcceptedSignal Signal    `json:"accepted_signal,omitempty"`
	RevokedAt      time.Time `json:"revoked_at,omitzero"`
	FailedAt       time.Time `json:"failed_at,omitzero"`
	LastError      string    `json:"last_error,omitempty"` // scrubbed
	LastResendAt   time.Time `json:"last_resend_at,omitzero"`

	// Replacing, Attempts, AwaitingWebhook, HasCode and the request times
	// are the bookkeeping of a sending under way.
	Replacing         bool      `json:"replacing,omitempty"`
	Attempts          int       `json:"attempts,omitempty"`
	AwaitingWebhook   bool      `json:"awaiting_webhook,omitempty"`
	HasCode           bool      `json:"has_code,omitempty"`
	DeleteRequestedAt time.Time `json:"delete_requested_at,omitzero"`
	CheckRequestedAt  time.Time `json:"check_requested_at,omitzero"`

	// Nuki is the current authorization as the last sync listed it; nil
	// when no sync has listed it.
	Nuki *DiagnosticsAuth `json:"nuki,omitempty"`

	History []DiagnosticsEntry `json:"history"`
}

// DiagnosticsAuth is what Nuki Web last listed for an invitation's current
// authorization: the fields that feed its status.
type DiagnosticsAuth struct {
	Enabled        bool      `json:"enabled"`
	LockCount      int       `json:"lock_count"`
	LastActiveDate time.Time `json:"last_active_date,omitzero"`
	AppID          bool      `json:"app_id"`         // an appId is set
	AppIDChanged   bool      `json:"app_id_changed"` // it differs from the one first seen for this sending
	LockAuthID     bool      `json:"lock_auth_id"`   // the lock's authId is set
	Operation      bool      `json:"operation"`      // an operationId is set: the lock has not carried out a change
	Error          string    `json:"error,omitempty"`
	CreationDate   time.Time `json:"creation_date,omitzero"`
	UpdateDate     time.Time `json:"update_date,omitzero"`
}

// DiagnosticsEntry is one history entry in a diagnostics bundle.
type DiagnosticsEntry struct {
	At     time.Time `json:"at"`
	Event  EventType `json:"event"`
	Actor  string    `json:"actor,omitempty"`  // ActorKind of the entry's actor
	Detail string    `json:"detail,omitempty"` // scrubbed
}

// ActorKind reduces a history actor to its kind: "mqtt", "web", "scheduler",
// "sync", "nuki" or "" (the bridge itself); anything else is "other". The
// user name after "web:" is dropped.
func ActorKind(actor string) string {
	kind, _, _ := strings.Cut(actor, ":")
	switch kind {
	case "", "mqtt", "web", "scheduler", "sync", "nuki":
		return kind
	}
	return "other"
}

// Diagnostics builds a diagnostics bundle from the state in memory. It asks
// Nuki Web nothing, reads no invite code, and may be called at any time.
func (s *Service) Diagnostics(info DiagnosticsInfo) Diagnostics {
	key := make([]byte, 32)
	rand.Read(key) // never fails: it crashes the program instead
	hash := func(kind, id string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(kind + ":" + id))
		return hex.EncodeToString(m.Sum(nil))[:12]
	}
	now := s.opts.Now()

	s.mu.RLock()
	defer s.mu.RUnlock()
	sc := s.scrubberLocked()
	d := Diagnostics{
		GeneratedAt: now.UTC(), Version: info.Version, Source: info.Source,
		Config: make(map[string]string, len(info.Config)), Locks: len(s.state.Locks),
		Invitations: make([]DiagnosticsTimeline, 0, len(s.state.Invitations)),
	}
	for name, value := range info.Config {
		d.Config[name] = sc.scrub(value)
	}
	if info.Source != DiagnosticsFromDatabase {
		st := s.syncStateLocked()
		d.Sync = &DiagnosticsSync{Status: st.Status, LastSync: utc(st.LastSync), LastError: sc.scrub(st.LastError), Counts: st.Counts}
	}
	for _, inv := range s.state.Invitations {
		t := DiagnosticsTimeline{
			Invite: hash("invite", string(inv.ID)),
			Lock:   hash("lock", strconv.FormatInt(inv.SmartlockID, 10)),
			User:   hash("user", strconv.FormatInt(inv.AccountUserID, 10)),
			Status: inv.StatusAt(now, s.opts.ReminderBefore), Delivery: inv.Delivery, Adopted: inv.Adopted,
			Send: inv.Send, ResendCount: inv.ResendCount, AutoResends: inv.AutoResends,
			SentAt: utc(inv.SentAt), ConfirmedAt: utc(inv.ConfirmedAt), ExpiresAt: utc(inv.ExpiresAt),
			LastUsedAt: utc(inv.LastUsedAt), AcceptedAt: utc(inv.AcceptedAt), AcceptedSignal: inv.AcceptedSignal,
			RevokedAt: utc(inv.RevokedAt), FailedAt: utc(inv.FailedAt), LastError: sc.scrub(inv.LastError),
			LastResendAt: utc(inv.LastResendAt),
			Replacing:    inv.Replacing, Attempts: inv.Attempts, AwaitingWebhook: inv.RequestID != "", HasCode: inv.HasCode,
			DeleteRequestedAt: utc(inv.DeleteRequestedAt), CheckRequestedAt: utc(inv.CheckRequestedAt),
			History: make([]DiagnosticsEntry, 0, len(inv.History)),
		}
		if a, ok := s.state.Auths[inv.AuthID]; ok && inv.AuthID != "" {
			t.Nuki = &DiagnosticsAuth{
				Enabled: a.Enabled, LockCount: a.LockCount, LastActiveDate: utc(a.LastActiveDate),
				AppID: a.AppID != 0, AppIDChanged: a.AppID != 0 && a.AppID != inv.BaseAppID,
				LockAuthID: a.AuthID != 0, Operation: a.OperationID != "", Error: sc.scrub(a.Error),
				CreationDate: utc(a.CreationDate), UpdateDate: utc(a.UpdateDate),
			}
		}
		for _, e := range inv.History {
			t.History = append(t.History, DiagnosticsEntry{At: utc(e.At), Event: e.Event, Actor: ActorKind(e.Actor), Detail: sc.scrub(e.Detail)})
		}
		d.Invitations = append(d.Invitations, t)
	}
	slices.SortFunc(d.Invitations, func(a, b DiagnosticsTimeline) int {
		return cmp.Or(a.SentAt.Compare(b.SentAt), strings.Compare(a.Invite, b.Invite))
	})
	return d
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// scrubberLocked collects the names, e-mail addresses and ids the bridge
// knows. Call with s.mu held.
func (s *Service) scrubberLocked() *scrubber {
	sc := &scrubber{known: map[rune][]knownText{}}
	sc.add(s.opts.AdminEmail, "<email>")
	for _, inv := range s.state.Invitations {
		sc.add(inv.Email, "<email>")
	}
	for _, u := range s.state.Users {
		sc.add(u.Email, "<email>")
	}
	for _, l := range s.state.Locks {
		sc.add(l.Name, "<lock>")
	}
	for _, inv := range s.state.Invitations {
		sc.add(inv.LockName, "<lock>")
		sc.addName(inv.Name)
	}
	for _, u := range s.state.Users {
		sc.addName(u.Name)
	}
	for id, a := range s.state.Auths {
		sc.addName(a.Name)
		sc.add(id, "<auth>")
	}
	for _, inv := range s.state.Invitations {
		sc.add(inv.AuthID, "<auth>")
		sc.add(inv.PrevAuthID, "<auth>")
		for _, id := range inv.Deleting {
			sc.add(id, "<auth>")
		}
		sc.add(inv.RequestID, "<request>")
		sc.add(string(inv.ID), "<invite>")
	}
	for id := range s.state.Requests {
		sc.add(id, "<request>")
	}
	for _, list := range sc.known {
		slices.SortFunc(list, func(a, b knownText) int { return cmp.Compare(len(b.text), len(a.text)) })
	}
	return sc
}

// scrubber removes personal and secret text; see DiagnosticsTimeline.
type scrubber struct {
	// known maps the lower-cased first rune of each known text to the
	// texts starting with it, longest first.
	known map[rune][]knownText
}

type knownText struct {
	text, label string
}

// add makes text (matched case-insensitively, as a whole word) be replaced
// by label. Texts shorter than two characters are ignored; the first label
// given for a text stays.
func (sc *scrubber) add(text, label string) {
	text = strings.TrimSpace(text)
	if utf8.RuneCountInString(text) < 2 {
		return
	}
	first, _ := utf8.DecodeRuneInString(text)
	first = unicode.ToLower(first)
	for _, k := range sc.known[first] {
		if strings.EqualFold(k.text, text) {
			return
		}
	}
	sc.known[first] = append(sc.known[first], knownText{text, label})
}

// addName adds a person's name, and each of its words of three or more
// characters, as "<guest>".
func (sc *scrubber) addName(name string) {
	sc.add(name, "<guest>")
	for _, word := range strings.FieldsFunc(name, func(r rune) bool { return !isWord(r) }) {
		if utf8.RuneCountInString(word) >= 3 {
			sc.add(word, "<guest>")
		}
	}
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

var (
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@"]+@`)
	queryToken  = regexp.MustCompile(`(?i)([?&;](?:access_token|token|api_key|apikey|key|secret|password|pass|auth)=)[^&;#\s"]+`)
	bearer      = regexp.MustCompile(`(?i)(\bbearer\s+)[^\s"]+`)
	email       = regexp.MustCompile(`[\pL\pN._%+\-]+@[\pL\pN\-]+(?:\.[\pL\pN\-]+)*`)
	uuid        = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	hexID       = regexp.MustCompile(`\b[0-9a-fA-F]{16,}\b`)
	digitRun    = regexp.MustCompile(`[0-9]{6,}`)
	timeOfDay   = regexp.MustCompile(`[0-9]{2}:[0-9]{2}:[0-9]{2}\.$`)
)

// scrub returns text without anything personal or secret.
func (sc *scrubber) scrub(text string) string {
	if text == "" {
		return ""
	}
	text = urlUserinfo.ReplaceAllString(text, "${1}<redacted>@")
	text = queryToken.ReplaceAllString(text, "${1}<redacted>")
	text = bearer.ReplaceAllString(text, "${1}<redacted>")
	text = email.ReplaceAllString(text, "<email>")
	text = sc.replaceKnown(text)
	text = uuid.ReplaceAllString(text, "<id>")
	text = hexID.ReplaceAllString(text, "<id>")
	return replaceDigitRuns(text)
}

// replaceKnown replaces every known text that stands as a whole word:
// neither preceded nor followed by a letter or digit.
func (sc *scrubber) replaceKnown(text string) string {
	if len(sc.known) == 0 {
		return text
	}
	var b strings.Builder
	prev := ' '
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if n, label := sc.match(text, i, r, !isWord(prev)); n > 0 {
			b.WriteString(label)
			prev, _ = utf8.DecodeLastRuneInString(text[:i+n])
			i += n
			continue
		}
		b.WriteString(text[i : i+size])
		prev = r
		i += size
	}
	return b.String()
}

// match returns the length of the longest known text at text[i:] and its
// label, or 0.
func (sc *scrubber) match(text string, i int, r rune, boundaryBefore bool) (int, string) {
	for _, k := range sc.known[unicode.ToLower(r)] {
		end := i + len(k.text)
		if end > len(text) || !strings.EqualFold(text[i:end], k.text) {
			continue
		}
		first, _ := utf8.DecodeRuneInString(k.text)
		if isWord(first) && !boundaryBefore {
			continue
		}
		last, _ := utf8.DecodeLastRuneInString(k.text)
		if next, _ := utf8.DecodeRuneInString(text[end:]); end < len(text) && isWord(last) && isWord(next) {
			continue
		}
		return len(k.text), k.label
	}
	return 0, ""
}

// replaceDigitRuns replaces runs of six or more digits with "<number>",
// except the fraction of a second after a time of day.
func replaceDigitRuns(text string) string {
	runs := digitRun.FindAllStringIndex(text, -1)
	if runs == nil {
		return text
	}
	var b strings.Builder
	last := 0
	for _, r := range runs {
		if timeOfDay.MatchString(text[:r[0]]) {
			continue
		}
		b.WriteString(text[last:r[0]])
		b.WriteString("<number>")
		last = r[1]
	}
	b.WriteString(text[last:])
	return b.String()
}
