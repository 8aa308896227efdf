package mail

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

//go:embed templates
var builtin embed.FS

// builtinRoot is the directory of the built-in templates inside builtin.
const builtinRoot = "templates"

// DefaultLanguage is the language every message falls back to. Its templates
// must all exist.
const DefaultLanguage = "en"

// DefaultValidity is how long an invite code can be redeemed unless
// WithValidity says otherwise.
const DefaultValidity = 48 * time.Hour

// kinds lists the templates, in the order they are documented.
var kinds = []bridge.MessageKind{bridge.MessageInvite, bridge.MessageReminder, bridge.MessageResend, bridge.MessageDigest,
	bridge.MessageKeypadCode}

// part is one file of a template: subject, plain text or HTML.
type part int

const (
	partSubject part = iota
	partText
	partHTML
	partCount
)

// suffixes are the file name endings of the parts, indexed by part. The
// subject's ending must be tested before the text's.
var suffixes = [partCount]string{".subject.txt", ".txt", ".html"}

// Data is what every template is executed with. Fields that do not apply to
// a message (Code in a digest, Invitations in an invite) are empty.
type Data struct {
	Kind     bridge.MessageKind // invite, reminder, resend or digest
	Language string             // the language of the template in use, e.g. "de"
	Name     string             // the guest's name
	Email    string             // the recipient's address
	Lock     string             // the lock's name
	// Code is the invite code, as the guest types it into the Nuki app. Empty
	// when the code is not known here (Nuki emailed it itself).
	Code string
	// Expires is the end of the invitation's validity written out in the
	// template's language and the configured time zone, e.g.
	// "Friday, March 13, 2026, 6:30 PM (CET)" or
	// "Freitag, 13. März 2026, 18:30 Uhr (MEZ)".
	Expires string
	// ExpiresAt is the same moment as a time.Time in the configured time zone,
	// for templates that format it themselves: {{.ExpiresAt.Format "02.01."}}.
	ExpiresAt time.Time
	// Validity is how long a code can be redeemed, e.g. "48 hours" or
	// "48 Stunden".
	Validity     string
	AppStoreURL  string // the Nuki app in Apple's App Store
	PlayStoreURL string // the Nuki app on Google Play
	// Invitations lists the invitations a digest is about.
	Invitations []DigestEntry
	// Window is a keypad code's access window (keypad_code only).
	Window Window
}

// Window is a keypad code's access window as a guest reads it, in the
// guest's time zone (or the configured one) and the template's language.
// Fields that do not restrict the window are empty.
type Window struct {
	From    string    // e.g. "Freitag, 13. März 2026, 18:30 Uhr (MEZ)"; empty: from now on
	Until   string    // formatted like From
	FromAt  time.Time // the same moments, for templates that format them themselves
	UntilAt time.Time
	// Days lists the weekdays the code works on, e.g. "Mo, Di, Fr" or
	// "Mon, Tue, Fri"; empty: every day.
	Days string
	// DailyFrom and DailyUntil are the times of day it works, "08:00" and
	// "18:00"; empty: all day.
	DailyFrom, DailyUntil string
}

// DigestEntry is one invitation in the admin's digest.
type DigestEntry struct {
	Guest      string // the guest's name
	Email      string // the guest's address
	Lock       string // the lock's name
	Expires    string // formatted like Data.Expires
	ExpiresAt  time.Time
	Status     bridge.Status // e.g. "expiring_soon"
	StatusText string        // the status in the template's language, e.g. "läuft bald ab"
}

// Rendered is one message ready to send. It contains the invite code in
// clear: do not log it.
type Rendered struct {
	Language string // the language of the template used, after fallback
	Subject  string // one line
	Text     string // the text/plain part
	HTML     string // the text/html part
}

// templateSet holds the three parsed parts of one template in one language.
type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Templates holds every email template, parsed and checked. It is immutable
// after LoadTemplates and safe for concurrent use.
type Templates struct {
	sets     map[string]map[bridge.MessageKind]*templateSet // language → kind → parts
	validity time.Duration
}

// LoadOption tunes LoadTemplates.
type LoadOption func(*Templates)

// WithValidity sets how long an invite code can be redeemed, shown to guests
// as {{.Validity}}. Zero or negative keeps DefaultValidity.
func WithValidity(d time.Duration) LoadOption {
	return func(t *Templates) {
		if d > 0 {
			t.validity = d
		}
	}
}

// LoadTemplates parses the built-in templates and, when dir is not empty, the
// user's templates in dir, which override the built-in ones file by file.
//
// The layout, both built in and in dir, is
//
//	<dir>/<language>/<kind>.subject.txt   subject line (text/template)
//	<dir>/<language>/<kind>.txt           plain-text part (text/template)
//	<dir>/<language>/<kind>.html          HTML part (html/template)
//
// with kind one of invite, reminder, resend, digest, keypad_code and language a lowercase
// code such as en, de, fr or de-at. A language may provide some kinds and not
// others; a kind it provides needs all three files (from dir or built in).
//
// Every template is parsed and executed once with sample data, so a syntax
// error or an unknown field is found now, not when the first guest is
// invited. All problems come back joined in one error; each names the file
// and, for template errors, the line. A missing English template is an error.
func LoadTemplates(dir string, opts ...LoadOption) (*Templates, error) {
	sub, err := fs.Sub(builtin, builtinRoot)
	if err != nil {
		return nil, fmt.Errorf("built-in email templates: %w", err)
	}
	var user fs.FS
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("TEMPLATE_DIR: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("TEMPLATE_DIR %s is not a directory", dir)
		}
		user = os.DirFS(dir)
	}
	return loadTemplates(sub, "builtin:"+builtinRoot, user, dir, opts...)
}

// source is the text of one template file and the path shown in errors.
type source struct {
	path string
	text string
}

type sourceKey struct {
	lang string
	kind bridge.MessageKind
	part part
}

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// loadTemplates does the work of LoadTemplates on two file systems: the
// built-in one and the user's (nil for none). The names label file paths in
// errors.
func loadTemplates(base fs.FS, baseName string, user fs.FS, userName string, opts ...LoadOption) (*Templates, error) {
	t := &Templates{sets: map[string]map[bridge.MessageKind]*templateSet{}, validity: DefaultValidity}
	for _, opt := range opts {
		opt(t)
	}
	sources := map[sourceKey]source{}
	errs := readSources(base, baseName, sources)
	if user != nil {
		errs = append(errs, readSources(user, userName, sources)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for key := range sources {
		if t.sets[key.lang] == nil {
			t.sets[key.lang] = map[bridge.MessageKind]*templateSet{}
		}
		t.sets[key.lang][key.kind] = nil
	}
	for _, lang := range sortedKeys(t.sets) {
		for _, kind := range kinds {
			if _, ok := t.sets[lang][kind]; !ok {
				if lang == DefaultLanguage {
					errs = append(errs, fmt.Errorf("email template %s/%s is missing: %s, %s and %s are required",
						lang, kind, kind+".subject.txt", kind+".txt", kind+".html"))
				}
				continue
			}
			set, err := t.parseSet(sources, lang, kind)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t.sets[lang][kind] = set
		}
	}
	if len(t.sets[DefaultLanguage]) == 0 {
		errs = append(errs, fmt.Errorf("no email templates for %q found", DefaultLanguage))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// readSources reads every template file of fsys into sources, replacing what
// is there. Files whose names are not templates are errors if they end in
// .txt or .html, and ignored otherwise.
func readSources(fsys fs.FS, name string, sources map[sourceKey]source) []error {
	display := func(elem ...string) string {
		if strings.HasPrefix(name, "builtin:") {
			return path.Join(append([]string{name}, elem...)...)
		}
		return filepath.Join(append([]string{name}, elem...)...)
	}
	langs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return []error{fmt.Errorf("email templates %s: %w", name, err)}
	}
	var errs []error
	for _, entry := range langs {
		dirName := entry.Name()
		if strings.HasPrefix(dirName, ".") {
			continue
		}
		if info, err := fs.Stat(fsys, dirName); err != nil || !info.IsDir() {
			continue
		}
		lang := normalizeLanguage(dirName)
		if !languagePattern.MatchString(lang) {
			errs = append(errs, fmt.Errorf("email templates %s: not a language directory (expected a code such as en, de or de-at)",
				display(dirName)))
			continue
		}
		files, err := fs.ReadDir(fsys, dirName)
		if err != nil {
			errs = append(errs, fmt.Errorf("email templates %s: %w", display(dirName), err))
			continue
		}
		for _, file := range files {
			fileName := file.Name()
			if file.IsDir() || strings.HasPrefix(fileName, ".") ||
				!(strings.HasSuffix(fileName, ".txt") || strings.HasSuffix(fileName, ".html")) {
				continue
			}
			kind, p, ok := parseFileName(fileName)
			if !ok {
				errs = append(errs, fmt.Errorf("email template %s: unknown file name; expected <kind>.subject.txt, <kind>.txt or <kind>.html with kind one of %s",
					display(dirName, fileName), kindList()))
				continue
			}
			b, err := fs.ReadFile(fsys, path.Join(dirName, fileName))
			if err != nil {
				errs = append(errs, fmt.Errorf("email template %s: %w", display(dirName, fileName), err))
				continue
			}
			sources[sourceKey{lang, kind, p}] = source{path: display(dirName, fileName), text: string(b)}
		}
	}
	return errs
}

// parseFileName splits "invite.subject.txt" into its kind and part.
func parseFileName(name string) (bridge.MessageKind, part, bool) {
	for p := partSubject; p < partCount; p++ {
		if stem, ok := strings.CutSuffix(name, suffixes[p]); ok {
			kind := bridge.MessageKind(stem)
			return kind, p, slices.Contains(kinds, kind)
		}
	}
	return "", 0, false
}

func kindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// parseSet parses the three parts of one template and executes each once
// with sample data.
func (t *Templates) parseSet(sources map[sourceKey]source, lang string, kind bridge.MessageKind) (*templateSet, error) {
	var src [partCount]source
	var missing []string
	for p := partSubject; p < partCount; p++ {
		s, ok := sources[sourceKey{lang, kind, p}]
		if !ok {
			missing = append(missing, string(kind)+suffixes[p])
		}
		src[p] = s
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("email template %s/%s is incomplete: %s missing", lang, kind, strings.Join(missing, ", "))
	}

	set := &templateSet{}
	var errs []error
	var err error
	if set.subject, err = texttemplate.New(src[partSubject].path).Parse(src[partSubject].text); err != nil {
		errs = append(errs, err)
	}
	if set.text, err = texttemplate.New(src[partText].path).Parse(src[partText].text); err != nil {
		errs = append(errs, err)
	}
	if set.html, err = htmltemplate.New(src[partHTML].path).Parse(src[partHTML].text); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	sample := t.data(sampleMessage(kind, lang, time.Date(2026, time.March, 13, 18, 30, 0, 0, time.UTC)), lang, time.UTC)
	for _, exec := range []func(io.Writer, any) error{set.subject.Execute, set.text.Execute, set.html.Execute} {
		if err := exec(io.Discard, sample); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// Languages lists the languages that have at least one template, sorted.
func (t *Templates) Languages() []string { return sortedKeys(t.sets) }

// lookup finds the template for kind in lang, falling back from "de-at" to
// "de" and then to English.
func (t *Templates) lookup(kind bridge.MessageKind, lang string) (*templateSet, string) {
	lang = normalizeLanguage(lang)
	for _, candidate := range []string{lang, baseLanguage(lang), DefaultLanguage} {
		if set := t.sets[candidate][kind]; set != nil {
			return set, candidate
		}
	}
	return nil, ""
}

// Render executes the template of m.Kind in m.Language (falling back to
// English) with dates in m.TimeZone, else in loc (nil: the system's zone).
// The result contains the invite code; errors do not. An unknown kind wraps
// bridge.ErrInvalid.
func (t *Templates) Render(m bridge.Message, loc *time.Location) (Rendered, error) {
	if loc == nil {
		loc = time.Local
	}
	if m.TimeZone != "" {
		if guest, err := time.LoadLocation(m.TimeZone); err == nil {
			loc = guest
		}
	}
	set, lang := t.lookup(m.Kind, m.Language)
	if set == nil {
		return Rendered{}, fmt.Errorf("%w: no email template %q (expected one of %s)", bridge.ErrInvalid, m.Kind, kindList())
	}
	data := t.data(m, lang, loc)
	var subject, text, html strings.Builder
	if err := set.subject.Execute(&subject, data); err != nil {
		return Rendered{}, fmt.Errorf("render email subject: %w", err)
	}
	if err := set.text.Execute(&text, data); err != nil {
		return Rendered{}, fmt.Errorf("render email text: %w", err)
	}
	if err := set.html.Execute(&html, data); err != nil {
		return Rendered{}, fmt.Errorf("render email HTML: %w", err)
	}
	return Rendered{
		Language: lang,
		Subject:  oneLine(subject.String()),
		Text:     text.String(),
		HTML:     html.String(),
	}, nil
}

// data builds what the templates see.
func (t *Templates) data(m bridge.Message, lang string, loc *time.Location) Data {
	d := Data{
		Kind:         m.Kind,
		Language:     lang,
		Name:         m.Name,
		Email:        m.To,
		Lock:         m.Lock,
		Code:         m.Code.Reveal(),
		Validity:     formatDuration(t.validity, lang),
		AppStoreURL:  AppStoreURL,
		PlayStoreURL: PlayStoreURL,
	}
	if !m.ExpiresAt.IsZero() {
		d.ExpiresAt = m.ExpiresAt.In(loc)
		d.Expires = formatTime(d.ExpiresAt, lang)
	}
	d.Window = window(m.Access, lang, loc)
	for _, inv := range m.Invitations {
		e := DigestEntry{
			Guest:      inv.Name,
			Email:      inv.Email,
			Lock:       inv.LockName,
			Status:     inv.Status,
			StatusText: statusText(inv.Status, lang),
		}
		if !inv.ExpiresAt.IsZero() {
			e.ExpiresAt = inv.ExpiresAt.In(loc)
			e.Expires = formatTime(e.ExpiresAt, lang)
		}
		d.Invitations = append(d.Invitations, e)
	}
	return d
}

// oneLine folds a rendered subject into one trimmed line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
