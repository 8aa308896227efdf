package mail

import (
	"fmt"
	"slices"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Preview renders template name in lang with sample data: the guest
// "Alice Example", the lock "Front door", the code "123 456 789" and an
// expiry 48 hours from now, in loc (nil: the system's zone). A digest lists
// two sample invitations; a keypad code is 345678 for the three days before
// that, Monday to Friday, 08:00 to 20:00. It serves `nuki-invites template preview NAME
// --lang de`. An unknown name wraps bridge.ErrInvalid.
func Preview(t *Templates, name, lang string, loc *time.Location) (Rendered, error) {
	kind := bridge.MessageKind(name)
	if !slices.Contains(kinds, kind) {
		return Rendered{}, fmt.Errorf("%w: no email template %q (expected one of %s)", bridge.ErrInvalid, name, kindList())
	}
	if lang == "" {
		lang = DefaultLanguage
	}
	return t.Render(sampleMessage(kind, lang, time.Now().Add(48*time.Hour)), loc)
}

// sampleMessage is the message Preview renders and LoadTemplates tries every
// template with.
func sampleMessage(kind bridge.MessageKind, lang string, expires time.Time) bridge.Message {
	m := bridge.Message{
		Kind:      kind,
		To:        "alice@example.com",
		Name:      "Alice Example",
		Language:  lang,
		Lock:      "Front door",
		Code:      "123 456 789",
		ExpiresAt: expires,
	}
	if kind == bridge.MessageKeypadCode {
		m.Code = "345678"
		m.Access = bridge.Access{From: expires.Add(-72 * time.Hour), Until: expires, WeekDays: 0b1111100,
			FromTime: 8 * 60, UntilTime: 20 * 60}
	}
	if kind == bridge.MessageDigest {
		m = bridge.Message{
			Kind:     kind,
			To:       "admin@example.com",
			Language: lang,
			Invitations: []bridge.Invitation{
				{Name: "Alice Example", Email: "alice@example.com", LockName: "Front door",
					ExpiresAt: expires, Status: bridge.StatusExpiringSoon},
				{Name: "Bob Example", Email: "bob@example.com", LockName: "Garden gate",
					ExpiresAt: expires.Add(6 * time.Hour), Status: bridge.StatusExpiringSoon},
			},
		}
	}
	return m
}
