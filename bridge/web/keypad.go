package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// This file holds what the API does for keypad codes beyond the create and
// the list they share with invitations: the codes made elsewhere, listed
// and adopted, and keeping a code a client gave out of every answer.

// listUnmanaged lists the keypad codes made elsewhere that the last sync
// saw, by lock and name, without their digits.
func (s *Server) listUnmanaged(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, UnmanagedCodeList{KeypadCodes: unmanagedOf(s.svc.UnmanagedKeypadCodes(), s.svc.Locks())})
}

// adoptBody is the JSON of an adoption: which code made elsewhere, as the
// unmanaged list names it.
type adoptBody struct {
	SmartlockID int64  `json:"smartlock_id"`
	AuthID      string `json:"auth_id"`
}

// adoptKeypadCode takes on a keypad code made elsewhere and answers the
// keypad code it now is (201), or 404 when the last sync listed none such.
func (s *Server) adoptKeypadCode(w http.ResponseWriter, r *http.Request) {
	var body adoptBody
	if p := decodeJSON(w, r, &body, adoptLimits, false); p != nil {
		writeProblem(w, *p)
		return
	}
	body.AuthID = strings.TrimSpace(body.AuthID)
	var problems []string
	if body.SmartlockID <= 0 {
		problems = append(problems, "smartlock_id is required: the lock id GET /api/v1/keypad-codes/unmanaged lists with the code")
	}
	if body.AuthID == "" {
		problems = append(problems, "auth_id is required: the id GET /api/v1/keypad-codes/unmanaged lists with the code")
	}
	if len(problems) > 0 {
		badRequest(w, strings.Join(problems, "; "))
		return
	}
	inv, err := s.svc.AdoptKeypadCode(r.Context(), body.SmartlockID, body.AuthID, actorOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewOf(inv))
}

// withoutCode takes a keypad code the client gave out of a problem's words:
// the core never words one, and Nuki's words are cleaned by the client of
// Nuki Web, but a code must not come back even when one of them fails.
func withoutCode(p problem, code bridge.Secret) problem {
	c := code.Reveal()
	if c == "" {
		return p
	}
	redact := func(s string) string { return strings.ReplaceAll(s, c, fmt.Sprint(code)) }
	p.Detail = redact(p.Detail)
	for i := range p.Invitations {
		p.Invitations[i].LastError = redact(p.Invitations[i].LastError)
		for j := range p.Invitations[i].History {
			p.Invitations[i].History[j].Detail = redact(p.Invitations[i].History[j].Detail)
		}
	}
	return p
}
