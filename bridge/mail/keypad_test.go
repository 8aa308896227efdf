package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// keypadCode is a code for a weekend in March, sent to a guest in New York
// by an add-on configured for Berlin.
func keypadCode(lang string) bridge.Message {
	return bridge.Message{Kind: bridge.MessageKeypadCode, To: "gustav@example.com", Name: "Gustav", Language: lang,
		TimeZone: "America/New_York", Lock: "Front door", Code: "345678", ExpiresAt: expiry,
		Access: bridge.Access{From: expiry.Add(-48 * time.Hour), Until: expiry}}
}

func TestRenderKeypadCode(t *testing.T) {
	tpl := mustLoad(t, "")
	daily := keypadCode("en")
	daily.Access.WeekDays, daily.Access.FromTime, daily.Access.UntilTime = 64|32|4, 8*60, 18*60+30
	tests := []struct {
		name    string
		msg     bridge.Message
		subject string
		both    []string
		never   []string
	}{
		{"de, in the guest's time zone", keypadCode("de"), "Dein Code für das Keypad an Front door",
			[]string{"Hallo Gustav", "345678", "Mittwoch, 11. März 2026, 13:30 Uhr (EDT)", "Freitag, 13. März 2026, 13:30 Uhr (EDT)", "Nuki-Taste"},
			[]string{"MEZ", "jeweils", "zwischen"}},
		{"en", keypadCode("en"), "Your keypad code for Front door",
			[]string{"Hello Gustav", "345678", "Wednesday, March 11, 2026, 1:30 PM (EDT)", "Friday, March 13, 2026, 1:30 PM (EDT)", "Nuki key"},
			[]string{"CET", "between"}},
		{"en, weekdays and daily times", daily, "Your keypad code for Front door",
			[]string{"on Mon, Tue, Fri", "between 08:00 and 18:30"}, nil},
		{"without a time zone: the configured one", func() bridge.Message { m := keypadCode("de"); m.TimeZone = ""; return m }(),
			"Dein Code für das Keypad an Front door", []string{"Freitag, 13. März 2026, 18:30 Uhr (MEZ)"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tpl.Render(tc.msg, berlin(t))
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tc.subject {
				t.Errorf("subject = %q, want %q", r.Subject, tc.subject)
			}
			for _, part := range []struct{ name, text string }{{"text", r.Text}, {"HTML", r.HTML}} {
				for _, want := range tc.both {
					if !strings.Contains(part.text, want) {
						t.Errorf("%s part lacks %q:\n%s", part.name, want, part.text)
					}
				}
				for _, never := range tc.never {
					if strings.Contains(part.text, never) {
						t.Errorf("%s part has %q:\n%s", part.name, never, part.text)
					}
				}
			}
		})
	}
}

func TestPreviewKeypadCode(t *testing.T) {
	r, err := Preview(mustLoad(t, ""), "keypad_code", "de", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "345678") || !strings.Contains(r.Text, "jeweils Mo, Di, Mi, Do, Fr") {
		t.Errorf("preview:\n%s", r.Text)
	}
}
