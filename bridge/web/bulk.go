package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Limits of a bulk create.
const (
	maxBulkRows = 500
	// maxBulkBody bounds a bulk create's body: room for maxBulkRows rows of
	// the longest names and addresses, escaped, and the shared fields.
	maxBulkBody = 1 << 20
)

// bulkLimits bound the fields of a bulk create: the create request's, but
// the guest's own, which each row of guests gives.
var bulkLimits = func() map[string]fieldLimit {
	limits := maps.Clone(createLimits)
	for _, own := range []string{"email", "name", "language"} {
		delete(limits, own)
	}
	// Each guest's keypad code is drawn for them: one code given for
	// every row would clash with itself on the locks from the second row.
	delete(limits, "code")
	limits["guests"] = fieldLimit{items: maxBulkRows}
	limits["dry_run"] = fieldLimit{}
	return limits
}()

// maxRequestID is the longest request id a create takes.
var maxRequestID = createLimits["request_id"].chars

// bulkGuest is one row of a bulk create: whom to invite.
type bulkGuest struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Language string `json:"language"`
}

// bulkRequest is the body of a bulk create.
type bulkRequest struct {
	// Shared holds the create request's fields every row shares; its
	// guest fields are empty.
	Shared bridge.CreateRequest
	Guests []bulkGuest
	// DryRun checks every row and creates nothing.
	DryRun bool
}

// UnmarshalJSON reads a bulk create: guests and dry_run, and the rest as a
// create request (see bridge.CreateRequest.UnmarshalJSON). Problems wrap
// bridge.ErrInvalid; a body that is no JSON object is left to decodeJSON to
// word.
func (b *bulkRequest) UnmarshalJSON(data []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	var guests json.RawMessage
	for key, raw := range obj {
		switch {
		case strings.EqualFold(key, "guests"):
			guests = raw
		case strings.EqualFold(key, "dry_run"):
			if err := json.Unmarshal(raw, &b.DryRun); err != nil {
				return fmt.Errorf("%w: dry_run must be true or false", bridge.ErrInvalid)
			}
		default:
			continue
		}
		delete(obj, key)
	}
	rows, err := decodeGuests(guests)
	if err != nil {
		return err
	}
	shared, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(shared, &b.Shared); err != nil {
		return err
	}
	b.Guests = rows
	return nil
}

// decodeGuests reads the guests list strictly, naming the row of a problem.
func decodeGuests(raw json.RawMessage) ([]bulkGuest, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf(`%w: guests must be a list of guests such as [{"name":"Rose","email":"rose@example.com","language":"en"}]`, bridge.ErrInvalid)
	}
	switch n := len(items); {
	case n == 0:
		return nil, fmt.Errorf("%w: guests must name at least one guest", bridge.ErrInvalid)
	case n > maxBulkRows:
		return nil, fmt.Errorf("%w: guests names %d guests; at most %d in one request", bridge.ErrInvalid, n, maxBulkRows)
	}
	rows := make([]bulkGuest, len(items))
	for i, item := range items {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			return nil, fmt.Errorf("%w: guests[%d] must be an object with name, email and language", bridge.ErrInvalid, i)
		}
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rows[i]); err != nil {
			return nil, fmt.Errorf("%w: guests[%d]: %s", bridge.ErrInvalid, i, bridge.JSONProblem(err))
		}
	}
	return rows, nil
}

// rowRequestID is the request id of one row of a bulk create.
func rowRequestID(base string, row int) string {
	return base + "-" + strconv.Itoa(row)
}

// bulkResult is the outcome of one row.
type bulkResult struct {
	Row   int    `json:"row"`
	Name  string `json:"name"`
	Email string `json:"email"`
	OK    bool   `json:"ok"`
	// Invitations are those the row made; with a problem, those Nuki Web
	// refused are among them as failed and are retried.
	Invitations []Invitation `json:"invitations,omitempty"`
	Problem     *problem     `json:"problem,omitempty"`
}

// bulkAnswer is the answer to a bulk create.
type bulkAnswer struct {
	Results []bulkResult `json:"results"`
	Created int          `json:"created"` // rows that made invitations
	Failed  int          `json:"failed"`  // rows not ok
}

// bulkCreate invites many guests to the same locks with the same access,
// or gives each of them a keypad code of their own (kind keypad), one
// create per row, one row after another; a refused row does not stop
// the rest. With dry_run it only checks each row as a create would be
// checked before Nuki Web is asked. A request_id makes row i's request id
// "<request_id>-<i>", so that the same call again creates nothing twice.
// The same e-mail address in a second row is refused in both modes, so a
// dry run foretells the real run.
func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request) {
	var body bulkRequest
	if p := decodeJSONUpTo(w, r, &body, bulkLimits, false, maxBulkBody); p != nil {
		writeProblem(w, *p)
		return
	}
	base := strings.TrimSpace(body.Shared.RequestID)
	if base != "" {
		if last := rowRequestID(base, len(body.Guests)-1); len(last) > maxRequestID {
			badRequest(w, fmt.Sprintf("request_id must leave room for the row number: with %d guests it must be at most %d characters, as each row's request id is <request_id>-<row>",
				len(body.Guests), maxRequestID-(len(last)-len(base))))
			return
		}
	}
	actor := actorOf(r)
	ans := bulkAnswer{Results: make([]bulkResult, 0, len(body.Guests))}
	claimed := map[string]int{} // e-mail address → its row
	for i, g := range body.Guests {
		if err := r.Context().Err(); err != nil {
			s.log.Warn("bulk create abandoned by the client", "rows", len(body.Guests), "done", i, "actor", actor)
			return
		}
		req := body.Shared
		req.SmartlockIDs = slices.Clone(body.Shared.SmartlockIDs)
		req.Name, req.Email, req.Language, req.Actor = g.Name, g.Email, g.Language, actor
		if base != "" {
			req.RequestID = rowRequestID(base, i)
		}
		res := s.bulkRow(r, i, req, body.DryRun, claimed)
		res.Row, res.Name, res.Email = i, echo(g.Name, "name"), echo(g.Email, "email")
		if len(res.Invitations) > 0 {
			ans.Created++
		}
		if !res.OK {
			ans.Failed++
		}
		ans.Results = append(ans.Results, res)
	}
	s.log.Info("bulk create", "rows", len(body.Guests), "created", ans.Created, "failed", ans.Failed,
		"dry_run", body.DryRun, "actor", actor)
	writeJSON(w, http.StatusOK, ans)
}

// echo returns a row's value for its result: trimmed, and cut to the
// field's limit (a longer value fails the row anyway).
func echo(value, field string) string {
	value = strings.TrimSpace(value)
	if max := createLimits[field].chars; utf8.RuneCountInString(value) > max {
		return string([]rune(value)[:max])
	}
	return value
}

// bulkRow checks or carries out the create of one row. claimed maps each
// e-mail address to the first row that passed its own checks with it.
func (s *Server) bulkRow(r *http.Request, row int, req bridge.CreateRequest, dryRun bool, claimed map[string]int) bulkResult {
	var made []bridge.Invitation
	err := req.Check()
	if err == nil && req.Email != "" { // a keypad code's guest may have no address
		key := strings.ToLower(req.Email)
		if first, ok := claimed[key]; ok {
			err = fmt.Errorf("%w: %s is in row %d already; each guest gets one row", bridge.ErrConflict, clip(req.Email), first)
		} else {
			claimed[key] = row
		}
	}
	if err == nil {
		if dryRun {
			err = s.svc.CheckCreate(req)
		} else {
			made, err = s.svc.Create(r.Context(), req)
		}
	}
	res := bulkResult{OK: err == nil, Invitations: viewsOf(made)}
	if err != nil {
		p := s.createProblem(r, err, made)
		res.Problem = &p
	}
	return res
}
