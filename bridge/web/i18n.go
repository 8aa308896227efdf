package web

import (
	"cmp"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// locale is one language of the page: every text the templates and app.js
// show, keyed by a name that says where it is used. The tables live in
// i18n_<code>.go, one per language, and hold the same keys.
//
// A text may name values in braces, "{who}", which F and app.js fill in.
// A key with the suffixes ".one" and ".other" has a form for one and one
// for any other number (N).
type locale struct {
	Code    string // the page's lang attribute: "en", "de"
	strings map[string]string
}

// pageLanguages are the languages of the page, the fallback first.
var pageLanguages = []string{"en", "de"}

var locales = map[string]*locale{
	"en": {Code: "en", strings: stringsEN},
	"de": {Code: "de", strings: stringsDE},
}

// langParam is the query parameter that chooses the page's language
// outright; app.js sets it when Home Assistant's language is not the
// browser's.
const langParam = "lang"

// localeFor picks the page's language for r: the lang query parameter when
// it names one of pageLanguages, else the first of them the Accept-Language
// header asks for, else English.
func localeFor(r *http.Request) *locale {
	if l, ok := locales[primaryTag(r.URL.Query().Get(langParam))]; ok {
		return l
	}
	for _, tag := range acceptedLanguages(r.Header.Get("Accept-Language")) {
		if l, ok := locales[primaryTag(tag)]; ok {
			return l
		}
	}
	return locales[pageLanguages[0]]
}

// primaryTag is the language of a tag such as "de-CH" or "en_GB": "de",
// "en".
func primaryTag(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// acceptedLanguages lists the tags of an Accept-Language header, most
// wanted first; tags with q=0 are left out.
func acceptedLanguages(header string) []string {
	type tagQ struct {
		tag string
		q   float64
	}
	var tags []tagQ
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if tag == "" || tag == "*" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			tags = append(tags, tagQ{tag, q})
		}
	}
	slices.SortStableFunc(tags, func(a, b tagQ) int { return cmp.Compare(b.q, a.q) })
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.tag
	}
	return out
}

// T returns the text of key, or the key itself when the table lacks it (a
// test makes sure every key used is in every table).
func (l *locale) T(key string) string {
	if s, ok := l.strings[key]; ok {
		return s
	}
	return key
}

// F returns the text of key with its named values filled in; kv alternates
// names and values: F("row.revoke.aria", "who", "Alice", "lock", "Front
// door").
func (l *locale) F(key string, kv ...string) string {
	return fill(l.T(key), kv)
}

// N returns the form of key for the number n, with {n} and kv filled in.
func (l *locale) N(key string, n int, kv ...string) string {
	form := key + ".other"
	if n == 1 {
		form = key + ".one"
	}
	text, ok := l.strings[form]
	if !ok {
		text = l.T(key)
	}
	return fill(text, append([]string{"n", strconv.Itoa(n)}, kv...))
}

func fill(text string, kv []string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		text = strings.ReplaceAll(text, "{"+kv[i]+"}", kv[i+1])
	}
	return text
}

// Strong is the text of key as HTML, with the value named name set in bold:
// Strong("list.empty.none", "new", "New invitation").
func (l *locale) Strong(key, name, value string) template.HTML {
	before, after, _ := strings.Cut(l.T(key), "{"+name+"}")
	return template.HTML(html.EscapeString(before) + "<strong>" + html.EscapeString(value) + "</strong>" + html.EscapeString(after))
}

// Status names an invitation status.
func (l *locale) Status(s bridge.Status) string {
	if t, ok := l.strings["status."+string(s)]; ok {
		return t
	}
	return string(s)
}

// StatusNote explains a status in a few words under its badge, or "".
func (l *locale) StatusNote(s bridge.Status) string {
	return l.strings["status.note."+string(s)]
}

// Event names a history event; one the table lacks is its identifier in
// words ("code_ready" → "Code ready").
func (l *locale) Event(e bridge.EventType) string {
	if t, ok := l.strings["event."+string(e)]; ok {
		return t
	}
	s := strings.ReplaceAll(string(e), "_", " ")
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Signal names the evidence an acceptance relied on.
func (l *locale) Signal(s bridge.Signal) string {
	if t, ok := l.strings["signal."+string(s)]; ok {
		return t
	}
	return string(s)
}

// Sync names a sync status.
func (l *locale) Sync(s bridge.SyncStatus) string {
	if t, ok := l.strings["sync."+string(s)]; ok && s != "" {
		return t
	}
	return l.T("sync.none")
}

// Since says how far t is from now in words: "in 5 h", "3 min ago", "just
// now", "in <1 min"; a dash for the zero time.
func (l *locale) Since(now, t time.Time) string {
	if t.IsZero() {
		return l.T("time.none")
	}
	d := t.Sub(now)
	future := d > 0
	if d < 0 {
		d = -d
	}
	var span string
	switch {
	case d < time.Minute && future:
		return l.T("time.soon")
	case d < time.Minute:
		return l.T("time.just_now")
	case d < time.Hour:
		span = l.N("time.min", int(d/time.Minute))
	case d < 48*time.Hour:
		span = l.N("time.h", int(d/time.Hour))
	default:
		span = l.N("time.d", int(d/(24*time.Hour)))
	}
	if future {
		return l.F("time.future", "span", span)
	}
	return l.F("time.past", "span", span)
}

// scriptStrings is what app.js gets of the locale, as JSON in the page.
type scriptStrings struct {
	Lang      string            `json:"lang"`
	Languages []string          `json:"languages"`
	Strings   map[string]string `json:"strings"`
}

// Script returns the locale for app.js: its code, every language the page
// has and the whole table.
func (l *locale) Script() scriptStrings {
	return scriptStrings{Lang: l.Code, Languages: slices.Clone(pageLanguages), Strings: l.strings}
}
