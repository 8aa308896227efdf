package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Limits on what a command may carry. They are checked before any part of a
// command is echoed on <base>/result, logged or handed to the Service, so
// that neither an answer nor a log line grows with what a sender puts in.
const (
	// maxPayload is the largest command payload read, in bytes; a larger
	// one is refused unread.
	maxPayload = 64 << 10
	// maxRequestID is the longest request_id, in bytes, as the Service
	// allows for create.
	maxRequestID = 128
	// maxLocks is the most smartlock_ids one create may name, far above
	// the locks of any account.
	maxLocks = 200
	// maxWeekdays is the most entries allowed_weekdays may list.
	maxWeekdays = 7
	// maxInviteID is the longest invitation id: two int64s and a dash.
	maxInviteID = 39
	// maxAuthID is the longest auth_id keypad/adopt takes; Nuki Web's
	// are 24 hex digits.
	maxAuthID = 64
	// maxKey is the longest field name quoted back; every known one is
	// shorter.
	maxKey = 32
	// maxError is the longest error text, in characters, put on
	// <base>/result or in a log line.
	maxError = 1000
	// quoteLen is how many characters of a refused value an error quotes.
	quoteLen = 40
)

// createTextLimits are the longest string fields of a create request, in
// characters. Their values are checked further by the Service.
var createTextLimits = map[string]int{
	"EMAIL": 254, "NAME": 100, "LANGUAGE": 16, "DELIVERY": 16,
	"ALLOWED_FROM": 64, "ALLOWED_UNTIL": 64, "ALLOWED_FROM_TIME": 16, "ALLOWED_UNTIL_TIME": 16,
}

// errTooLarge refuses a payload over maxPayload.
func errTooLarge(n int) error {
	return fmt.Errorf("%w: the payload has %d bytes; a command may have at most %d", bridge.ErrInvalid, n, maxPayload)
}

// clip returns s cut to n characters, with "…" when something was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i == len(s) {
		return s
	}
	return s[:i] + "…"
}

// quote quotes at most quoteLen characters of s, for errors and logs.
func quote(s string) string {
	c := clip(s, quoteLen)
	if c == s {
		return strconv.Quote(s)
	}
	return strconv.Quote(strings.TrimSuffix(c, "…")) + "…"
}

// checkRequestID refuses a request_id longer than maxRequestID.
func checkRequestID(id string) error {
	if n := len(id); n > maxRequestID {
		return fmt.Errorf("%w: request_id %s has %d characters; at most %d are allowed", bridge.ErrInvalid, quote(id), n, maxRequestID)
	}
	return nil
}

// requestIDOf reads the request_id of a payload that may be malformed, for
// the answer; it returns "" when there is none or it is too long.
func requestIDOf(payload []byte) string {
	var id struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(payload, &id)
	if checkRequestID(id.RequestID) != nil {
		return ""
	}
	return id.RequestID
}

// checkCreateFields walks the top level of a create payload and refuses
// fields that are too long or too many: field names, request_id, the
// strings, allowed_weekdays and smartlock_ids (counted, not decoded). Every
// problem comes back at once, wrapping bridge.ErrInvalid. Payloads that are
// not a JSON object pass, for the Service's decoder to word the problem.
func checkCreateFields(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var problems []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		if len(key) > maxKey {
			problems = append(problems, "unknown field "+quote(key))
			continue
		}
		problems = append(problems, fieldProblems(jsonFold(key), raw)...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", bridge.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// fieldProblems checks one field of a create request; folded is its name
// folded as encoding/json matches names to fields.
func fieldProblems(folded string, raw json.RawMessage) []string {
	switch folded {
	case "REQUEST_ID":
		var id string
		if json.Unmarshal(raw, &id) == nil {
			if err := checkRequestID(id); err != nil {
				return []string{strings.TrimPrefix(err.Error(), bridge.ErrInvalid.Error()+": ")}
			}
		}
	case "SMARTLOCK_IDS":
		if n, ok := countList(raw, maxLocks+1); ok && n > maxLocks {
			return []string{fmt.Sprintf("smartlock_ids names more than %d locks; at most %d are allowed per request", maxLocks, maxLocks)}
		}
	case "ALLOWED_WEEKDAYS":
		return weekdayProblems(raw)
	default:
		limit, ok := createTextLimits[folded]
		var s string
		if ok && json.Unmarshal(raw, &s) == nil {
			if n := utf8.RuneCountInString(s); n > limit {
				return []string{fmt.Sprintf("%s %s has %d characters; at most %d are allowed", strings.ToLower(folded), quote(s), n, limit)}
			}
		}
	}
	return nil
}

// weekdayProblems bounds a list of day names; a bitmask is the Service's.
func weekdayProblems(raw json.RawMessage) []string {
	n, ok := countList(raw, maxWeekdays+1)
	if !ok {
		return nil
	}
	if n > maxWeekdays {
		return []string{fmt.Sprintf(`allowed_weekdays lists more than %d days; name each day once, e.g. ["mon","tue"]`, maxWeekdays)}
	}
	var names []json.RawMessage
	if json.Unmarshal(raw, &names) != nil {
		return nil
	}
	var problems []string
	for _, name := range names {
		var s string
		if json.Unmarshal(name, &s) == nil && utf8.RuneCountInString(s) > len("wednesday") {
			problems = append(problems, fmt.Sprintf("allowed_weekdays: %s is not one of mon, tue, wed, thu, fri, sat, sun", quote(s)))
		}
	}
	return problems
}

// countList counts the entries of a JSON array, stopping at limit. ok is
// false when raw is not an array.
func countList(raw json.RawMessage, limit int) (n int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return 0, false
	}
	for n < limit && dec.More() {
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return n, true
		}
		n++
	}
	return n, true
}

// jsonFold folds a field name as encoding/json does when it matches names
// to struct fields without regard to case.
func jsonFold(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, s)
}
