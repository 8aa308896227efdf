package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Every field is bounded before anything quotes it: a long value is refused
// with its limit, and no message carries more than a short prefix of it.
func TestLongValuesAreRefusedWithoutEcho(t *testing.T) {
	long := strings.Repeat("x", 5000)
	digits := strings.Repeat("1", 5000)
	valid := `"email":"g@example.com","name":"G","smartlock_ids":[11]`
	ids := make([]string, 201)
	for i := range ids {
		ids[i] = "11"
	}
	tests := []struct {
		name, method, target, body string
		detail                     string
	}{
		{"email", "POST", "/api/v1/invitations", `{"email":"` + long + `@example.com","name":"G","smartlock_ids":[11]}`, "email must be at most 254 characters"},
		{"name", "POST", "/api/v1/invitations", `{"email":"g@example.com","name":"` + long + `","smartlock_ids":[11]}`, "name must be at most 100 characters"},
		{"request id", "POST", "/api/v1/invitations", `{` + valid + `,"request_id":"` + long + `"}`, "request_id must be at most 128 characters"},
		{"language", "POST", "/api/v1/invitations", `{` + valid + `,"language":"` + long + `"}`, "language must be at most 8 characters"},
		{"delivery", "POST", "/api/v1/invitations", `{` + valid + `,"delivery":"` + long + `"}`, "delivery must be at most 16 characters"},
		{"allowed from", "POST", "/api/v1/invitations", `{` + valid + `,"allowed_from":"2026-` + long + `"}`, "allowed_from must be at most 40 characters"},
		{"allowed until", "POST", "/api/v1/invitations", `{` + valid + `,"allowed_until":"` + long + `"}`, "allowed_until must be at most 40 characters"},
		{"clock", "POST", "/api/v1/invitations", `{` + valid + `,"allowed_from_time":"` + long + `"}`, "allowed_from_time must be at most 8 characters"},
		{"weekday name", "POST", "/api/v1/invitations", `{` + valid + `,"allowed_weekdays":["` + long + `"]}`, "allowed_weekdays: an item is longer than 12 characters"},
		{"weekday mask", "POST", "/api/v1/invitations", `{` + valid + `,"allowed_weekdays":` + digits + `}`, "allowed_weekdays must be at most 12 characters"},
		{"lock id digits", "POST", "/api/v1/invitations", `{"email":"g@example.com","name":"G","smartlock_ids":[` + digits + `]}`, "smartlock_ids: an item is longer than 20 characters"},
		{"too many locks", "POST", "/api/v1/invitations", `{"email":"g@example.com","name":"G","smartlock_ids":[` + strings.Join(ids, ",") + `]}`, "smartlock_ids names 201 items; at most 200 in one request"},
		{"unknown field", "POST", "/api/v1/invitations", `{` + valid + `,"` + long + `":1}`, `unknown field "` + strings.Repeat("x", 40) + `"…`},
		{"resend delivery", "POST", "/api/v1/invitations/{alice}/resend", `{"delivery":"` + long + `"}`, "delivery must be at most 16 characters"},
		{"resend unknown field", "POST", "/api/v1/invitations/{alice}/resend", `{"` + long + `":true}`, "unknown field"},
		{"invitation id", "POST", "/api/v1/invitations/" + long + "/revoke", "", "is not an invitation id"},
		{"status filter", "GET", "/api/v1/invitations?status=" + long, "", "is not one of"},
		{"lock filter", "GET", "/api/v1/invitations?lock=" + digits, "", "is not a lock id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rb := newRealServer(t, bridge.Options{}, nil)
			g := seedGuests(rb)
			rb.sim.ResetCalls()
			before, _ := rb.svc.Invitation(g.alice)
			target := strings.ReplaceAll(tt.target, "{alice}", string(g.alice))
			rec := do(t, s.Handler(), tt.method, target, tt.body)
			p := wantProblem(t, rec, http.StatusBadRequest, tt.detail)
			if strings.Contains(p.Detail, strings.Repeat("x", 41)) || strings.Contains(p.Detail, strings.Repeat("1", 41)) || len(p.Detail) > 300 {
				t.Errorf("the message quotes too much of the value (%d bytes): %.120s…", len(p.Detail), p.Detail)
			}
			after, _ := rb.svc.Invitation(g.alice)
			if n := len(rb.svc.Invitations(bridge.Filter{})); n != 3 || rb.sim.Calls() != 0 || len(after.History) != len(before.History) {
				t.Errorf("the Service was asked: %d invitations, %d calls to Nuki Web, Alice's history %d → %d entries",
					n, rb.sim.Calls(), len(before.History), len(after.History))
			}
		})
	}
}
