package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// maxBody bounds every request body but a bulk create's.
const maxBody = 64 << 10

// maxEcho is how many characters of a client's value a message quotes.
const maxEcho = 40

// clip quotes the start of a client's value for a message: at most maxEcho
// characters, then "…".
func clip(s string) string {
	head, cut := prefix(s)
	if cut {
		return strconv.Quote(head) + "…"
	}
	return strconv.Quote(head)
}

// clipRaw is clip without the quotes, for paths and methods.
func clipRaw(s string) string {
	head, cut := prefix(s)
	if cut {
		return head + "…"
	}
	return head
}

func prefix(s string) (head string, cut bool) {
	if utf8.RuneCountInString(s) <= maxEcho {
		return s, false
	}
	return string([]rune(s)[:maxEcho]), true
}

// fieldLimit bounds one field of a JSON body: a string's characters, a
// list's items and each item's characters (a string) or digits (a number).
// Zero is no limit, for fields that are true or false.
type fieldLimit struct {
	chars int
	items int
}

// createLimits bound the fields of a create request. The core checks the
// values too, but only after they are decoded, and some of its messages
// quote them.
var createLimits = map[string]fieldLimit{
	"request_id":         {chars: 128},
	"email":              {chars: 254},
	"name":               {chars: 100},
	"language":           {chars: 8},
	"smartlock_ids":      {items: bridge.MaxLocksPerRequest, chars: 20},
	"delivery":           {chars: 16},
	"remote_allowed":     {},
	"allowed_from":       {chars: 40},
	"allowed_until":      {chars: 40},
	"allowed_weekdays":   {items: 14, chars: 12},
	"allowed_from_time":  {chars: 8},
	"allowed_until_time": {chars: 8},
	"kind":               {chars: 16},
	// code and time_zone are a keypad code's: a code has six digits, a
	// time zone name (IANA) at most 64 characters.
	"code":      {chars: 16},
	"time_zone": {chars: 64},
}

// adoptLimits bound the fields of an adoption of a keypad code made
// elsewhere.
var adoptLimits = map[string]fieldLimit{
	"smartlock_id": {chars: 20},
	"auth_id":      {chars: maxAuthID},
}

// maxAuthID is the longest Nuki authorization id an adoption takes.
const maxAuthID = 64

// resendLimits bound the fields of a re-send.
var resendLimits = map[string]fieldLimit{
	"delivery": {chars: 16},
	"force":    {},
}

// checkFields checks a JSON object's fields against limits before it is
// decoded, so that no message, log line or request to Nuki Web carries an
// overlong value: unknown fields, long strings, long lists and long
// numbers. Values of another JSON type are left to the decoder, whose
// message names the type wanted. It returns the problems found.
func checkFields(raw []byte, limits map[string]fieldLimit) []string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil // not an object: the decoder words it
	}
	names := slices.Sorted(maps.Keys(obj))
	var problems []string
	for _, name := range names {
		field, lim, ok := lookupField(limits, name)
		if !ok {
			problems = append(problems, "unknown field "+clip(name))
			continue
		}
		val := bytes.TrimSpace(obj[name])
		var items []json.RawMessage
		switch {
		case lim.items > 0 && json.Unmarshal(val, &items) == nil:
			if len(items) > lim.items {
				problems = append(problems, fmt.Sprintf("%s names %d items; at most %d in one request", field, len(items), lim.items))
				continue
			}
			for _, it := range items {
				if !withinChars(bytes.TrimSpace(it), lim.chars) {
					problems = append(problems, fmt.Sprintf("%s: an item is longer than %d characters", field, lim.chars))
					break
				}
			}
		case !withinChars(val, lim.chars):
			problems = append(problems, fmt.Sprintf("%s must be at most %d characters", field, lim.chars))
		}
	}
	return problems
}

// lookupField finds a field as encoding/json does, ignoring case.
func lookupField(limits map[string]fieldLimit, name string) (string, fieldLimit, bool) {
	if lim, ok := limits[name]; ok {
		return name, lim, true
	}
	for field, lim := range limits {
		if strings.EqualFold(field, name) {
			return field, lim, true
		}
	}
	return "", fieldLimit{}, false
}

// withinChars reports whether a JSON string holds at most max characters
// or a JSON number has at most max of them; other values pass, and so does
// everything when max is 0 (a field that is neither).
func withinChars(val json.RawMessage, max int) bool {
	if len(val) == 0 || max <= 0 {
		return true
	}
	switch c := val[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(val, &s) != nil {
			return true
		}
		return utf8.RuneCountInString(s) <= max
	case c == '-' || (c >= '0' && c <= '9'):
		return len(val) <= max
	}
	return true
}

// resendBody is the optional JSON of a re-send.
type resendBody struct {
	Delivery bridge.Delivery `json:"delivery"`
	// Force re-sends an accepted invitation too; without it the Service
	// refuses (409).
	Force bool `json:"force"`
}

// errBody marks a body that could not be read; its text is for the user.
var errBody = errors.New("bad body")

// decodeJSON reads a JSON object into v, strictly: one object, known fields
// only, each within limits (see checkFields), at most maxBody bytes. An
// empty body leaves v untouched when optional. Errors are problems ready to
// send.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limits map[string]fieldLimit, optional bool) *problem {
	return decodeJSONUpTo(w, r, v, limits, optional, maxBody)
}

// decodeJSONUpTo is decodeJSON with a body of up to max bytes.
func decodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, limits map[string]fieldLimit, optional bool, max int64) *problem {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &problem{Type: typeTooLarge, Status: http.StatusRequestEntityTooLarge, Title: "Body too large",
				Detail: fmt.Sprintf("the request body must be at most %d KiB", max>>10)}
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
	if problems := checkFields(raw, limits); len(problems) > 0 {
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request",
			Detail: strings.Join(problems, "; ")}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		detail := "the body is not valid JSON for this request: " + jsonMessage(err)
		if errors.Is(err, bridge.ErrInvalid) { // the request type checked itself
			detail = strings.TrimPrefix(err.Error(), bridge.ErrInvalid.Error()+": ")
		}
		return &problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request", Detail: detail}
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
		return "unknown field " + clip(strings.Trim(f, `"`))
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

// filterStatuses are the statuses a filter takes: an invitation's, then
// those only keypad codes have.
var filterStatuses = func() []bridge.Status {
	out := slices.Clone(bridge.Statuses)
	for _, st := range bridge.KeypadStatuses {
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}()

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
			if !slices.Contains(filterStatuses, st) {
				names := make([]string, len(filterStatuses))
				for i, x := range filterStatuses {
					names[i] = string(x)
				}
				return f, fmt.Errorf("%w: status %s is not one of %s", bridge.ErrInvalid, clip(s), strings.Join(names, ", "))
			}
			if !slices.Contains(f.Statuses, st) {
				f.Statuses = append(f.Statuses, st)
			}
		}
	}
	if v := strings.TrimSpace(q.Get("lock")); v != "" {
		var id int64
		if _, err := fmt.Sscan(v, &id); err != nil || id <= 0 || fmt.Sprint(id) != v {
			return f, fmt.Errorf("%w: lock %s is not a lock id", bridge.ErrInvalid, clip(v))
		}
		f.SmartlockID = id
	}
	f.Text = strings.TrimSpace(q.Get("q"))
	if len(f.Text) > 200 {
		return f, fmt.Errorf("%w: q must be at most 200 characters", bridge.ErrInvalid)
	}
	return f, nil
}
