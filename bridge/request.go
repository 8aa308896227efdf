package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// createWire is the JSON of a create request: the MQTT command's payload on
// <base>/invite/create and the HTTP API's body are the same document.
type createWire struct {
	RequestID        string          `json:"request_id"`
	Kind             Kind            `json:"kind"` // "app" (default) or "keypad"
	Email            string          `json:"email"`
	Name             string          `json:"name"`
	Language         string          `json:"language"`
	SmartlockIDs     []int64         `json:"smartlock_ids"`
	Delivery         Delivery        `json:"delivery"`
	RemoteAllowed    bool            `json:"remote_allowed"`
	AllowedFrom      string          `json:"allowed_from"`       // RFC 3339
	AllowedUntil     string          `json:"allowed_until"`      // RFC 3339
	AllowedWeekdays  json.RawMessage `json:"allowed_weekdays"`   // ["mon","tue"] or Nuki's bitmask
	AllowedFromTime  string          `json:"allowed_from_time"`  // "HH:MM"
	AllowedUntilTime string          `json:"allowed_until_time"` // "HH:MM"
	Code             Secret          `json:"code"`               // keypad: the code to give; drawn when absent
	TimeZone         string          `json:"time_zone"`          // keypad: the guest's IANA time zone for our e-mail
}

// UnmarshalJSON reads a create request in its JSON form (see README and
// DOCS.md): unknown fields are refused, the access window is read from
// allowed_from, allowed_until (RFC 3339), allowed_weekdays (day names or
// Nuki's bitmask) and allowed_from_time, allowed_until_time ("HH:MM"). Every
// problem with those comes back at once, wrapping ErrInvalid; the rest is
// checked by Service.Create.
func (r *CreateRequest) UnmarshalJSON(data []byte) error {
	var w createWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, JSONProblem(err))
	}
	var problems []string
	var a Access
	var err error
	if a.From, err = parseRFC3339("allowed_from", w.AllowedFrom); err != nil {
		problems = append(problems, err.Error())
	}
	if a.Until, err = parseRFC3339("allowed_until", w.AllowedUntil); err != nil {
		problems = append(problems, err.Error())
	}
	if a.WeekDays, err = parseWeekdays(w.AllowedWeekdays); err != nil {
		problems = append(problems, err.Error())
	}
	if a.FromTime, err = parseClock("allowed_from_time", w.AllowedFromTime); err != nil {
		problems = append(problems, err.Error())
	}
	if a.UntilTime, err = parseClock("allowed_until_time", w.AllowedUntilTime); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	*r = CreateRequest{RequestID: w.RequestID, Kind: w.Kind, Email: w.Email, Name: w.Name, Language: w.Language,
		SmartlockIDs: w.SmartlockIDs, Delivery: w.Delivery, RemoteAllowed: w.RemoteAllowed, Access: a,
		Code: w.Code, TimeZone: w.TimeZone, Actor: r.Actor}
	return nil
}

func parseRFC3339(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s must be an RFC 3339 time such as 2026-05-01T18:00:00+02:00", field, quote(s))
	}
	return t, nil
}

// weekdayBits are Nuki's weekday bits: 64 Monday … 1 Sunday.
var weekdayBits = map[string]int{
	"mon": 64, "monday": 64, "tue": 32, "tuesday": 32, "wed": 16, "wednesday": 16,
	"thu": 8, "thursday": 8, "fri": 4, "friday": 4, "sat": 2, "saturday": 2, "sun": 1, "sunday": 1,
}

// parseWeekdays accepts a list of day names (mon, Tuesday, …) or Nuki's
// bitmask; absent or null means every day (0).
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
	if len(raw) > 256 {
		return 0, errors.New("allowed_weekdays must name at most the seven days of the week")
	}
	if err := json.Unmarshal(raw, &names); err != nil {
		return 0, errors.New(`allowed_weekdays must be a list such as ["mon","tue"] or Nuki's bitmask (64 = Monday … 1 = Sunday)`)
	}
	for _, n := range names {
		bit, ok := weekdayBits[strings.ToLower(strings.TrimSpace(n))]
		if !ok {
			return 0, fmt.Errorf("allowed_weekdays: %s is not one of mon, tue, wed, thu, fri, sat, sun", quote(n))
		}
		mask |= bit
	}
	return mask, nil
}

// parseClock reads "HH:MM" as minutes from midnight.
func parseClock(field, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%s %s must be a time of day as HH:MM, e.g. 08:30", field, quote(s))
	}
	return hh*60 + mm, nil
}

// JSONProblem words an encoding/json decoding error for people: the field
// and what it must be, where a syntax error is, an unknown field's name cut
// to 40 characters; never more than about 120 characters of Go's own text.
// The create request and the MQTT commands' options both use it.
func JSONProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		want := map[string]string{"string": "a string", "bool": "true or false", "[]int64": "a list of lock ids",
			"int64": "a lock id", "bridge.Delivery": `"nuki" or "custom"`, "bridge.Kind": `"app" or "keypad"`,
			"bridge.Secret": "a string of six digits"}[typeErr.Type.String()]
		if want == "" {
			want = "of another type"
		}
		return fmt.Sprintf("%s must be %s, not a JSON %s", typeErr.Field, want, typeErr.Value)
	case errors.As(err, &typeErr):
		return "the request must be a JSON object, not a JSON " + typeErr.Value
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON (syntax error at byte %d)", syntaxErr.Offset)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + quote(strings.Trim(field, `"`))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return msg
}
