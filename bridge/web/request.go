package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

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
