package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// languageCodes are the languages Nuki Web accepts for an account user.
func languageCodes() []string {
	codes := make([]string, len(languages))
	for i, l := range languages {
		codes[i] = l.Code
	}
	return codes
}

// createBody is the JSON of a create request, the same as the MQTT one.
type createBody struct {
	RequestID        string          `json:"request_id"`
	Email            string          `json:"email"`
	Name             string          `json:"name"`
	Language         string          `json:"language"`
	SmartlockIDs     []int64         `json:"smartlock_ids"`
	Delivery         bridge.Delivery `json:"delivery"`
	RemoteAllowed    bool            `json:"remote_allowed"`
	AllowedFrom      string          `json:"allowed_from"`
	AllowedUntil     string          `json:"allowed_until"`
	AllowedWeekdays  json.RawMessage `json:"allowed_weekdays"`
	AllowedFromTime  string          `json:"allowed_from_time"`
	AllowedUntilTime string          `json:"allowed_until_time"`
}

// resendBody is the optional JSON of a re-send.
type resendBody struct {
	Delivery bridge.Delivery `json:"delivery"`
}

// errBody marks a body that could not be read; its text is for the user.
var errBody = errors.New("bad body")

// decodeJSON reads a JSON object into v, strictly: one object, known fields
// only, at most maxBody bytes. An empty body leaves v untouched when
// optional. Errors are problems ready to send.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) *problem {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &problem{Type: typeTooLarge, Status: http.StatusRequestEntityTooLarge, Title: "Body too large",
				Detail: fmt.Sprintf("the request body must be at most %d KiB", maxBody>>10)}
		}
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: "the request body could not be read"}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return nil
		}
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: "the request needs a JSON body"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &problem{Type: typeUnsupportedMedia, Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type",
				Detail: "send the body as application/json"}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: "the body is not valid JSON for this request: " + jsonMessage(err)}
	}
	if dec.More() {
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: "the body must hold exactly one JSON object"}
	}
	return nil
}

// jsonMessage rewords encoding/json's errors for people.
func jsonMessage(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("%s must be %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("expected a JSON object, not %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "bridge.Delivery":
		return "a string"
	case "bool":
		return "true or false"
	case "int64", "int":
		return "a whole number"
	case "[]int64":
		return "a list of numbers"
	}
	return "a " + goType
}

// toCreateRequest validates the body and converts it; every problem is named
// at once, joined with "; ".
func (b createBody) toCreateRequest(actor string) (bridge.CreateRequest, error) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	req := bridge.CreateRequest{
		RequestID:     strings.TrimSpace(b.RequestID),
		Email:         strings.TrimSpace(b.Email),
		Name:          strings.TrimSpace(b.Name),
		Language:      strings.ToLower(strings.TrimSpace(b.Language)),
		SmartlockIDs:  b.SmartlockIDs,
		Delivery:      b.Delivery,
		RemoteAllowed: b.RemoteAllowed,
		Actor:         actor,
	}
	if len(req.RequestID) > 128 {
		bad("request_id must be at most 128 characters")
	}
	switch addr, err := mail.ParseAddress(req.Email); {
	case req.Email == "":
		bad("email is required")
	case err != nil || addr.Address != req.Email || !strings.Contains(req.Email[strings.LastIndex(req.Email, "@"):], "."):
		bad("email %q is not an email address like guest@example.com", req.Email)
	}
	if len([]rune(req.Name)) > 100 {
		bad("name must be at most 100 characters")
	}
	if codes := languageCodes(); req.Language != "" && !slices.Contains(codes, req.Language) {
		bad("language %q is not one of %s", req.Language, strings.Join(codes, ", "))
	}
	if len(req.SmartlockIDs) == 0 {
		bad("smartlock_ids must name at least one lock")
	}
	seen := map[int64]bool{}
	for _, id := range req.SmartlockIDs {
		if id <= 0 {
			bad("smartlock_ids: %d is not a lock id", id)
		} else if seen[id] {
			bad("smartlock_ids: %d is listed twice", id)
		}
		seen[id] = true
	}
	if req.Delivery == "" {
		req.Delivery = bridge.DeliveryNuki
	} else if !req.Delivery.Valid() {
		bad("delivery %q must be \"nuki\" or \"custom\"", req.Delivery)
	}

	from, errFrom := parseTime("allowed_from", b.AllowedFrom)
	until, errUntil := parseTime("allowed_until", b.AllowedUntil)
	for _, err := range []error{errFrom, errUntil} {
		if err != nil {
			bad("%v", err)
		}
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		bad("allowed_until must be after allowed_from")
	}
	req.Access.From, req.Access.Until = from, until

	days, err := parseWeekdays(b.AllowedWeekdays)
	if err != nil {
		bad("%v", err)
	}
	req.Access.WeekDays = days

	fromMin, errFrom := parseClock("allowed_from_time", b.AllowedFromTime)
	untilMin, errUntil := parseClock("allowed_until_time", b.AllowedUntilTime)
	for _, err := range []error{errFrom, errUntil} {
		if err != nil {
			bad("%v", err)
		}
	}
	if errFrom == nil && errUntil == nil && b.AllowedFromTime != "" && b.AllowedUntilTime != "" && untilMin <= fromMin {
		bad("allowed_until_time must be later in the day than allowed_from_time")
	}
	req.Access.FromTime, req.Access.UntilTime = fromMin, untilMin

	if len(errs) > 0 {
		return bridge.CreateRequest{}, fmt.Errorf("%w: %s", bridge.ErrInvalid, strings.Join(errs, "; "))
	}
	return req, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q must be an RFC 3339 time such as 2026-05-01T14:00:00+02:00", field, s)
	}
	return t, nil
}

// parseClock reads "HH:MM" as minutes from midnight.
func parseClock(field, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%s %q must be a time of day as HH:MM, e.g. 08:30", field, s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// weekdayBits are Nuki's weekday bits: Monday 64 … Sunday 1.
var weekdayBits = map[string]int{"mon": 64, "tue": 32, "wed": 16, "thu": 8, "fri": 4, "sat": 2, "sun": 1}

// parseWeekdays accepts a list of "mon".."sun" or Nuki's bitmask (0-127).
func parseWeekdays(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var mask int
	if err := json.Unmarshal(raw, &mask); err == nil {
		if mask < 0 || mask > 127 {
			return 0, fmt.Errorf("allowed_weekdays %d must be a bitmask from 0 to 127 (64 = Monday … 1 = Sunday)", mask)
		}
		return mask, nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return 0, errors.New(`allowed_weekdays must be a list such as ["mon","tue"] or Nuki's bitmask (64 = Monday … 1 = Sunday)`)
	}
	for _, n := range names {
		bit, ok := weekdayBits[strings.ToLower(strings.TrimSpace(n))]
		if !ok {
			return 0, fmt.Errorf("allowed_weekdays: %q is not one of mon, tue, wed, thu, fri, sat, sun", n)
		}
		mask |= bit
	}
	return mask, nil
}

// parseFilter reads ?status= (repeatable or comma list), ?lock= and ?q=.
func parseFilter(r *http.Request) (bridge.Filter, error) {
	q := r.URL.Query()
	var f bridge.Filter
	for _, v := range q["status"] {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			st := bridge.Status(s)
			if !slices.Contains(bridge.Statuses, st) {
				names := make([]string, len(bridge.Statuses))
				for i, x := range bridge.Statuses {
					names[i] = string(x)
				}
				return f, fmt.Errorf("%w: status %q is not one of %s", bridge.ErrInvalid, s, strings.Join(names, ", "))
			}
			if !slices.Contains(f.Statuses, st) {
				f.Statuses = append(f.Statuses, st)
			}
		}
	}
	if v := strings.TrimSpace(q.Get("lock")); v != "" {
		var id int64
		if _, err := fmt.Sscan(v, &id); err != nil || id <= 0 || fmt.Sprint(id) != v {
			return f, fmt.Errorf("%w: lock %q is not a lock id", bridge.ErrInvalid, v)
		}
		f.SmartlockID = id
	}
	f.Text = strings.TrimSpace(q.Get("q"))
	if len(f.Text) > 200 {
		return f, fmt.Errorf("%w: q must be at most 200 characters", bridge.ErrInvalid)
	}
	return f, nil
}
