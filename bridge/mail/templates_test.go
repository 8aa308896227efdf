package mail

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	_ "time/tzdata"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// expiry is Friday 13 March 2026, 18:30 in Berlin (CET).
var expiry = time.Date(2026, time.March, 13, 17, 30, 0, 0, time.UTC)

func invite(kind bridge.MessageKind, lang string) bridge.Message {
	return bridge.Message{
		Kind: kind, To: "alice@example.com", Name: "Alice", Language: lang,
		Lock: "Front door", Code: "987654321", ExpiresAt: expiry,
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, dir string, opts ...LoadOption) *Templates {
	t.Helper()
	tpl, err := LoadTemplates(dir, opts...)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	return tpl
}

func TestRenderBuiltin(t *testing.T) {
	tpl := mustLoad(t, "")
	tests := []struct {
		name     string
		msg      bridge.Message
		wantLang string
		subject  string
		both     []string // in the text and the HTML part
	}{
		{"invite en", invite(bridge.MessageInvite, "en"), "en", "Your invitation to Front door",
			[]string{"Alice", "987654321", "within", "48 hours", "Friday, March 13, 2026, 6:30 PM (CET)", AppStoreURL, PlayStoreURL}},
		{"invite de", invite(bridge.MessageInvite, "de"), "de", "Deine Einladung für Front door",
			[]string{"Hallo Alice", "987654321", "innerhalb von", "48 Stunden", "Freitag, 13. März 2026, 18:30 Uhr (MEZ)", AppStoreURL, PlayStoreURL}},
		{"invite de-AT uses de", invite(bridge.MessageInvite, "de_AT"), "de", "Deine Einladung für Front door",
			[]string{"Freitag, 13. März 2026, 18:30 Uhr (MEZ)"}},
		{"invite fr falls back to en", invite(bridge.MessageInvite, "fr"), "en", "Your invitation to Front door",
			[]string{"Hello Alice", "987654321", "Friday, March 13, 2026, 6:30 PM (CET)"}},
		{"invite without language", invite(bridge.MessageInvite, ""), "en", "Your invitation to Front door",
			[]string{"987654321"}},
		{"reminder en", invite(bridge.MessageReminder, "en"), "en", "Reminder: your invite code for Front door expires soon",
			[]string{"not been redeemed yet", "987654321", "Friday, March 13, 2026, 6:30 PM (CET)"}},
		{"reminder de", invite(bridge.MessageReminder, "de"), "de", "Erinnerung: Dein Einladungscode für Front door läuft bald ab",
			[]string{"noch nicht eingelöst", "987654321", "Freitag, 13. März 2026, 18:30 Uhr (MEZ)"}},
		{"resend en", invite(bridge.MessageResend, "en"), "en", "Your new invite code for Front door",
			[]string{"previous code no longer works", "987654321", "48 hours"}},
		{"resend de", invite(bridge.MessageResend, "de"), "de", "Dein neuer Einladungscode für Front door",
			[]string{"bisherige Code", "987654321", "48 Stunden"}},
		{"invite without code", func() bridge.Message { m := invite(bridge.MessageInvite, "en"); m.Code = ""; return m }(),
			"en", "Your invitation to Front door", []string{"separate email", "48 hours"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tpl.Render(tc.msg, berlin(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Language != tc.wantLang {
				t.Errorf("language = %q, want %q", r.Language, tc.wantLang)
			}
			if r.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", r.Subject, tc.subject)
			}
			for _, want := range tc.both {
				if !strings.Contains(r.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, r.Text)
				}
				if !strings.Contains(r.HTML, want) {
					t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
				}
			}
			if !strings.Contains(r.HTML, `lang="`+tc.wantLang+`"`) {
				t.Errorf("HTML does not declare lang=%q", tc.wantLang)
			}
		})
	}
}

func TestRenderEscapesHTMLOnly(t *testing.T) {
	tpl := mustLoad(t, "")
	m := invite(bridge.MessageInvite, "en")
	m.Name = "<b>Bob</b>"
	m.Lock = `Garage "A" & <script>`
	r, err := tpl.Render(m, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<b>Bob</b>") || strings.Contains(r.HTML, "<script>") {
		t.Errorf("HTML contains unescaped markup:\n%s", r.HTML)
	}
	for _, want := range []string{"&lt;b&gt;Bob&lt;/b&gt;", "Garage &#34;A&#34; &amp; &lt;script&gt;"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if !strings.Contains(r.Text, "Hello <b>Bob</b>,") {
		t.Errorf("plain text should show the name as typed:\n%s", r.Text)
	}
	if r.Subject != `Your invitation to Garage "A" & <script>` {
		t.Errorf("subject = %q", r.Subject)
	}
}

func TestRenderDigest(t *testing.T) {
	tpl := mustLoad(t, "")
	m := bridge.Message{
		Kind: bridge.MessageDigest, To: "admin@example.com", Language: "de",
		Invitations: []bridge.Invitation{
			{Name: "Alice", Email: "alice@example.com", LockName: "Front door", ExpiresAt: expiry, Status: bridge.StatusExpiringSoon},
			{Name: "<i>Eve</i>", Email: "eve@example.com", LockName: "Garden gate", ExpiresAt: expiry.Add(24 * time.Hour), Status: bridge.StatusPending},
		},
	}
	r, err := tpl.Render(m, berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Noch nicht eingelöste Einladungen: 2" {
		t.Errorf("subject = %q", r.Subject)
	}
	for _, want := range []string{
		"Alice <alice@example.com>, Front door: läuft bald ab, läuft ab am Freitag, 13. März 2026, 18:30 Uhr (MEZ)",
		"<i>Eve</i> <eve@example.com>, Garden gate: offen, läuft ab am Samstag, 14. März 2026, 18:30 Uhr (MEZ)",
	} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, r.Text)
		}
	}
	for _, want := range []string{"Front door", "läuft bald ab", "&lt;i&gt;Eve&lt;/i&gt;", "Samstag, 14. März 2026, 18:30 Uhr (MEZ)"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}

	m.Language = "en"
	r, err = tpl.Render(m, berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Alice <alice@example.com>, Front door: expiring soon, expires Friday, March 13, 2026, 6:30 PM (CET)"; !strings.Contains(r.Text, want) {
		t.Errorf("text lacks %q:\n%s", want, r.Text)
	}
}

func TestRenderSummerTimeAndOtherZones(t *testing.T) {
	tpl := mustLoad(t, "")
	m := invite(bridge.MessageReminder, "de")
	m.ExpiresAt = time.Date(2026, time.July, 1, 6, 5, 0, 0, time.UTC)
	r, err := tpl.Render(m, berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Mittwoch, 1. Juli 2026, 08:05 Uhr (MESZ)"; !strings.Contains(r.Text, want) {
		t.Errorf("text lacks %q:\n%s", want, r.Text)
	}
	m.Language = "en"
	r, err = tpl.Render(m, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Wednesday, July 1, 2026, 6:05 AM (UTC)"; !strings.Contains(r.Text, want) {
		t.Errorf("text lacks %q:\n%s", want, r.Text)
	}
}

func TestRenderSubjectIsOneLine(t *testing.T) {
	tpl := mustLoad(t, "")
	m := invite(bridge.MessageInvite, "en")
	m.Lock = "Front\r\ndoor\nBcc: evil@example.com"
	r, err := tpl.Render(m, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Your invitation to Front door Bcc: evil@example.com" {
		t.Errorf("subject = %q", r.Subject)
	}
}

func TestRenderUnknownKind(t *testing.T) {
	tpl := mustLoad(t, "")
	_, err := tpl.Render(bridge.Message{Kind: "welcome", Code: "555666777"}, time.UTC)
	if !errors.Is(err, bridge.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "555666777") {
		t.Errorf("error shows the code: %v", err)
	}
}

func TestWithValidity(t *testing.T) {
	tests := []struct {
		validity time.Duration
		lang     string
		want     string
	}{
		{48 * time.Hour, "en", "within 48 hours"},
		{48 * time.Hour, "de", "innerhalb von 48 Stunden"},
		{24 * time.Hour, "en", "within 24 hours"},
		{72 * time.Hour, "en", "within 3 days"},
		{72 * time.Hour, "de", "innerhalb von 3 Tagen"},
		{time.Hour, "en", "within 1 hour"},
		{time.Hour, "de", "innerhalb von 1 Stunde"},
		{90 * time.Minute, "en", "within 2 hours"},
		{30 * time.Minute, "de", "innerhalb von 30 Minuten"},
		{0, "en", "within 48 hours"},
	}
	for _, tc := range tests {
		t.Run(tc.validity.String()+" "+tc.lang, func(t *testing.T) {
			tpl := mustLoad(t, "", WithValidity(tc.validity))
			r, err := tpl.Render(invite(bridge.MessageInvite, tc.lang), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, tc.want) {
				t.Errorf("text lacks %q:\n%s", tc.want, r.Text)
			}
		})
	}
}

func TestUserTemplatesOverrideFileByFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"de/invite.subject.txt": "Schlüssel für {{.Lock}} – gültig bis {{.ExpiresAt.Format \"02.01. 15:04\"}}\n",
		"fr/invite.subject.txt": "Votre invitation pour {{.Lock}}",
		"fr/invite.txt":         "Bonjour {{.Name}}, votre code : {{.Code}}",
		"fr/invite.html":        "<p>Bonjour {{.Name}}, votre code : <b>{{.Code}}</b></p>",
		"README.md":             "notes of the user, ignored",
		"de/notes.md":           "ignored as well",
	})
	tpl := mustLoad(t, dir)

	r, err := tpl.Render(invite(bridge.MessageInvite, "de"), berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Schlüssel für Front door – gültig bis 13.03. 18:30" {
		t.Errorf("subject = %q, want the user's", r.Subject)
	}
	if !strings.Contains(r.Text, "Dein Einladungscode: 987654321") {
		t.Errorf("the built-in German text should remain:\n%s", r.Text)
	}

	r, err = tpl.Render(invite(bridge.MessageInvite, "fr"), berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Language != "fr" || r.Subject != "Votre invitation pour Front door" || r.Text != "Bonjour Alice, votre code : 987654321" ||
		r.HTML != "<p>Bonjour Alice, votre code : <b>987654321</b></p>" {
		t.Errorf("fr invite = %+v", r)
	}

	r, err = tpl.Render(invite(bridge.MessageReminder, "fr"), berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Language != "en" || !strings.HasPrefix(r.Subject, "Reminder:") {
		t.Errorf("fr reminder should fall back to English, got %q %q", r.Language, r.Subject)
	}
	if got := strings.Join(tpl.Languages(), ","); got != "de,en,fr" {
		t.Errorf("Languages() = %s", got)
	}
}

func TestLoadTemplatesReportsBrokenFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // all in the error
	}{
		{
			name:  "syntax error names file and line",
			files: map[string]string{"de/invite.txt": "Hallo {{.Name}},\n\nDein Code: {{.Code | groupDigits}}\n"},
			want:  []string{filepath.Join("de", "invite.txt") + ":3:", `function "groupDigits" not defined`},
		},
		{
			name:  "unknown field names file and line",
			files: map[string]string{"en/reminder.html": "<p>Hello</p>\n<p>{{.Gust}}</p>"},
			want:  []string{filepath.Join("en", "reminder.html") + ":2:", "Gust"},
		},
		{
			name:  "broken subject",
			files: map[string]string{"en/digest.subject.txt": "{{range .Invitations}}"},
			want:  []string{filepath.Join("en", "digest.subject.txt") + ":1:"},
		},
		{
			name:  "new language must be complete",
			files: map[string]string{"fr/invite.txt": "Bonjour"},
			want:  []string{"fr/invite is incomplete", "invite.subject.txt", "invite.html"},
		},
		{
			name:  "unknown template name",
			files: map[string]string{"en/invitation.txt": "Hi"},
			want:  []string{filepath.Join("en", "invitation.txt"), "unknown file name", "invite, reminder, resend, digest"},
		},
		{
			name:  "not a language directory",
			files: map[string]string{"Templates Backup/invite.txt": "Hi"},
			want:  []string{"Templates Backup", "not a language directory"},
		},
		{
			name: "all problems at once",
			files: map[string]string{
				"de/invite.txt":   "{{.Code",
				"en/resend.html":  "{{if}}",
				"es/reminder.txt": "Hola",
			},
			want: []string{filepath.Join("de", "invite.txt") + ":1:", filepath.Join("en", "resend.html") + ":1:", "es/reminder is incomplete"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			_, err := LoadTemplates(dir)
			if err == nil {
				t.Fatal("LoadTemplates succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if strings.Contains(tc.name, "file") && !strings.Contains(err.Error(), dir) {
				t.Errorf("error does not name the full path under %s:\n%v", dir, err)
			}
		})
	}
}

func TestLoadTemplatesMissingDir(t *testing.T) {
	_, err := LoadTemplates(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "TEMPLATE_DIR") {
		t.Fatalf("err = %v, want a TEMPLATE_DIR error", err)
	}
}

func TestLoadTemplatesNeedsEnglish(t *testing.T) {
	base := fstest.MapFS{}
	for _, kind := range kinds {
		for _, suffix := range suffixes {
			base["en/"+string(kind)+suffix] = &fstest.MapFile{Data: []byte("{{.Lock}}")}
		}
	}
	delete(base, "en/digest.html")
	delete(base, "en/digest.txt")
	delete(base, "en/digest.subject.txt")
	_, err := loadTemplates(base, "builtin", nil, "")
	if err == nil || !strings.Contains(err.Error(), "en/digest is missing") {
		t.Fatalf("err = %v, want en/digest missing", err)
	}

	base["en/digest.txt"] = &fstest.MapFile{Data: []byte("{{.Lock}}")}
	_, err = loadTemplates(base, "builtin", nil, "")
	if err == nil || !strings.Contains(err.Error(), "en/digest is incomplete: digest.subject.txt, digest.html missing") {
		t.Fatalf("err = %v, want en/digest incomplete", err)
	}
}

func TestPreview(t *testing.T) {
	tpl := mustLoad(t, "")
	tests := []struct {
		name, lang string
		subject    string
		want       []string
	}{
		{"invite", "de", "Deine Einladung für Front door", []string{"Hallo Alice Example", "123 456 789", "48 Stunden"}},
		{"invite", "", "Your invitation to Front door", []string{"Hello Alice Example", "123 456 789"}},
		{"reminder", "en", "Reminder: your invite code for Front door expires soon", []string{"123 456 789"}},
		{"resend", "fr", "Your new invite code for Front door", []string{"123 456 789"}},
		{"digest", "de", "Noch nicht eingelöste Einladungen: 2", []string{"Alice Example", "Bob Example", "Garden gate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" "+tc.lang, func(t *testing.T) {
			r, err := Preview(tpl, tc.name, tc.lang, berlin(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", r.Subject, tc.subject)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.Text, want) || !strings.Contains(r.HTML, want) {
					t.Errorf("text or HTML lacks %q", want)
				}
			}
		})
	}
	if _, err := Preview(tpl, "welcome", "en", nil); !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("unknown template: err = %v, want ErrInvalid", err)
	}
}
