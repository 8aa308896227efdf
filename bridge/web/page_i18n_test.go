package web

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

var placeholder = regexp.MustCompile(`\{\w+\}`)

// Every language has every text, with the same values to fill in.
func TestEveryTextInEveryLanguage(t *testing.T) {
	english := locales["en"].strings
	for _, code := range pageLanguages {
		l, ok := locales[code]
		if !ok || l.Code != code {
			t.Fatalf("the page language %s has no table", code)
		}
		t.Run(code, func(t *testing.T) {
			for _, key := range slices.Sorted(maps.Keys(english)) {
				text, ok := l.strings[key]
				if !ok {
					t.Errorf("%s lacks %q (English: %q)", code, key, english[key])
					continue
				}
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s: %q is empty", code, key)
				}
				want := slices.Sorted(slices.Values(placeholder.FindAllString(english[key], -1)))
				got := slices.Sorted(slices.Values(placeholder.FindAllString(text, -1)))
				if !slices.Equal(got, want) {
					t.Errorf("%s: %q fills in %v, English %v", code, key, got, want)
				}
			}
			for key := range l.strings {
				if _, ok := english[key]; !ok {
					t.Errorf("%s has %q, which English lacks", code, key)
				}
				if base, ok := strings.CutSuffix(key, ".one"); ok {
					if _, ok := l.strings[base+".other"]; !ok {
						t.Errorf("%s has %q without %s.other", code, key, base)
					}
				}
			}
		})
	}
	if len(locales) != len(pageLanguages) {
		t.Errorf("%d tables for %d page languages", len(locales), len(pageLanguages))
	}
}

// Every text the templates and app.js ask for is in the tables, and every
// text in the tables is asked for.
func TestEveryTextUsedIsThere(t *testing.T) {
	english := locales["en"].strings
	used := map[string]string{} // key → where
	scan := func(file string, patterns ...*regexp.Regexp) {
		b, err := os.ReadFile(filepath.Join("assets", file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = file
				n++
			}
		}
		if n == 0 {
			t.Fatalf("%s asks for no text: the patterns no longer match it", file)
		}
	}
	scan("index.html.tmpl", regexp.MustCompile(`\.(?:T|F|Strong) "([\w.]+)"`))
	scan("app.js", regexp.MustCompile(`\bt\("([\w.]+)"`))
	plural := map[string]string{}
	for _, file := range []string{"index.html.tmpl", "app.js"} {
		b, err := os.ReadFile(filepath.Join("assets", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?:\.N |\btn\()"([\w.]+)"`).FindAllStringSubmatch(string(b), -1) {
			plural[m[1]] = file
		}
	}
	plural["time.min"], plural["time.h"], plural["time.d"] = "Locale.Since", "Locale.Since", "Locale.Since"
	for base, file := range plural {
		_, one := english[base+".one"]
		_, other := english[base+".other"]
		if _, ok := english[base]; !ok && !(one && other) {
			t.Errorf("%s asks for %q for a number, which the tables lack in either form", file, base)
		}
		for _, key := range []string{base, base + ".one", base + ".other"} {
			if _, ok := english[key]; ok {
				used[key] = file
			}
		}
	}
	// Texts the Go code picks by name.
	for _, s := range slices.Concat(bridge.Statuses, bridge.KeypadStatuses) {
		used["status."+string(s)] = "Locale.Status"
	}
	used["status.note.sending"] = "Locale.StatusNote"
	used["status.note.scheduled"] = "Locale.StatusNote"
	for _, e := range append(slices.Concat(bridge.PublicEventTypes, bridge.KeypadEventTypes), bridge.EventChanged, bridge.EventAdopted,
		bridge.EventCodeRevealed, bridge.EventEmailed, bridge.EventEvidence, bridge.EventSkipped) {
		used["event."+string(e)] = "Locale.Event"
	}
	for _, s := range []bridge.Signal{bridge.SignalActivityLog, bridge.SignalLockCount, bridge.SignalLastActive, bridge.SignalAppID} {
		used["signal."+string(s)] = "Locale.Signal"
	}
	for _, s := range bridge.SyncStatuses {
		used["sync."+string(s)] = "Locale.Sync"
	}
	for _, key := range sortKeys {
		used["col."+key] = "view.columns"
	}
	for _, w := range weekdays {
		used["weekday."+w] = "pageData"
	}
	for _, key := range []string{"sync.none", "sort.hint", "filter.status.all", "filter.status.open", "page.notice.bad_filter",
		"time.none", "time.soon", "time.just_now", "time.future", "time.past"} {
		used[key] = "page.go"
	}

	for _, key := range slices.Sorted(maps.Keys(used)) {
		if _, ok := english[key]; ok {
			continue
		}
		t.Errorf("%s asks for %q, which the tables lack", used[key], key)
	}
	for _, key := range slices.Sorted(maps.Keys(english)) {
		if _, ok := used[key]; !ok {
			t.Errorf("nothing asks for %q (%q)", key, english[key])
		}
	}
}

func TestGermanTimes(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	de := locales["de"]
	tests := []struct {
		offset time.Duration
		want   string
	}{
		{-30 * time.Second, "gerade eben"},
		{30 * time.Second, "in <1 Min."},
		{-3 * time.Minute, "vor 3 Min."},
		{5*time.Hour + 10*time.Minute, "in 5 Std."},
		{-24 * time.Hour * 1, "vor 24 Std."},
		{-49 * time.Hour, "vor 2 Tagen"},
		{10 * 24 * time.Hour, "in 10 Tagen"},
	}
	for _, tt := range tests {
		if got := de.Since(now, now.Add(tt.offset)); got != tt.want {
			t.Errorf("%v from now reads %q in German, want %q", tt.offset, got, tt.want)
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	tests := []struct {
		header string
		want   []string
	}{
		{"de-DE,de;q=0.9,en;q=0.8", []string{"de-DE", "de", "en"}},
		{"fr;q=0.5, de;q=0.7 , *;q=0.1", []string{"de", "fr"}},
		{"en;q=0, de", []string{"de"}},
		{"", []string{}},
	}
	for _, tt := range tests {
		if got := acceptedLanguages(tt.header); !slices.Equal(got, tt.want) {
			t.Errorf("Accept-Language %q reads as %q, want %q", tt.header, got, tt.want)
		}
	}
}
