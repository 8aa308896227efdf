package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// FuzzCreateBody posts any body to the create route: the server never
// panics or fails with a 5xx, and an answer never echoes a long value. One
// server takes every body, as a running daemon would.
func FuzzCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{"email":"ana@example.com","name":"Ana","smartlock_ids":[11]}`,
		`{"email":"ana@example.com","name":"Ana","smartlock_ids":[11,11],"delivery":"custom","allowed_weekdays":["mon","sun"]}`,
		`{"email":"x","name":"","smartlock_ids":[],"allowed_from":"2026-13-01","allowed_from_time":"25:00"}`,
		`{"request_id":"` + strings.Repeat("r", 300) + `","email":"a@b.c","name":"A","smartlock_ids":[1]}`,
		`{"kind":"keypad","name":"K","smartlock_ids":[11],"code":"12","time_zone":"Mars/Olympus","allowed_until":"2026-06-01T00:00:00Z"}`,
		`{"unknown":` + strings.Repeat("[", 100) + `}`,
		`[]`, `null`, `"text"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	s, _ := newRealServer(f, bridge.Options{}, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := do(t, s.Handler(), http.MethodPost, "/api/v1/invitations", string(body))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code >= 400 && rec.Body.Len() > 4096 {
			t.Errorf("a refusal of %d bytes; errors must quote values in short", rec.Body.Len())
		}
	})
}
