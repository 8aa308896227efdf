package nukiweb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The JSON shapes of Nuki Web, reduced to the fields the bridge reads. Names
// follow the spec's definitions (Smartlock, SmartlockAuth, AccountUser, …).

type wireLock struct {
	SmartlockID int64  `json:"smartlockId"`
	Name        string `json:"name"`
	Type        int    `json:"type"`
	Config      struct {
		KeypadPaired  bool `json:"keypadPaired"`
		Keypad2Paired bool `json:"keypad2Paired"`
	} `json:"config"`
}

type wireUser struct {
	AccountUserID int64  `json:"accountUserId"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Language      string `json:"language"`
}

type wireAuth struct {
	ID               string      `json:"id"`
	SmartlockID      int64       `json:"smartlockId"`
	AccountUserID    int64       `json:"accountUserId"`
	AuthID           int64       `json:"authId"`
	AppID            int64       `json:"appId"`
	Type             int         `json:"type"`
	Name             string      `json:"name"`
	Enabled          bool        `json:"enabled"`
	RemoteAllowed    bool        `json:"remoteAllowed"`
	LockCount        int         `json:"lockCount"`
	AllowedFromDate  string      `json:"allowedFromDate"`
	AllowedUntilDate string      `json:"allowedUntilDate"`
	AllowedWeekDays  int         `json:"allowedWeekDays"`
	AllowedFromTime  int         `json:"allowedFromTime"`
	AllowedUntilTime int         `json:"allowedUntilTime"`
	LastActiveDate   string      `json:"lastActiveDate"`
	CreationDate     string      `json:"creationDate"`
	UpdateDate       string      `json:"updateDate"`
	Error            string      `json:"error"`
	OperationID      operationID `json:"operationId"`
	Code             keypadCode  `json:"code"`
}

// keypadCode is SmartlockAuth's code, an integer in the spec. A string of
// digits is taken too. Any other value (null, a fraction, an object, …) is
// "", as if absent, so that one odd entry does not fail the whole listing.
type keypadCode string

func (k *keypadCode) UnmarshalJSON(b []byte) error {
	raw := string(bytes.TrimSpace(b))
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if raw == "" || strings.Trim(raw, "0123456789") != "" {
		raw = ""
	}
	*k = keypadCode(raw)
	return nil
}

// operationID is SmartlockAuth's operationId. The spec makes it an ObjectId
// object ({"timestamp":…,"machineIdentifier":…,"processIdentifier":…,
// "counter":…,…}), which becomes the usual 24 hex digits of an ObjectId. A
// string is taken as it is; null, "" and {} are "" (no operation running);
// any other value is kept as its compact JSON, so that an unexpected shape
// still reads as "an operation is running" instead of failing the answer.
type operationID string

func (o *operationID) UnmarshalJSON(b []byte) error {
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return err
	}
	raw := compact.Bytes()
	switch {
	case bytes.Equal(raw, []byte("null")), bytes.Equal(raw, []byte("{}")):
		*o = ""
		return nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		*o = operationID(s)
		return nil
	case raw[0] == '{':
		var id struct {
			Timestamp, MachineIdentifier, ProcessIdentifier, Counter *int64
		}
		if json.Unmarshal(raw, &id) == nil && id.Timestamp != nil && id.MachineIdentifier != nil &&
			id.ProcessIdentifier != nil && id.Counter != nil {
			*o = operationID(fmt.Sprintf("%08x%06x%04x%06x", uint32(*id.Timestamp), *id.MachineIdentifier&0xffffff,
				uint16(*id.ProcessIdentifier), *id.Counter&0xffffff))
			return nil
		}
	}
	*o = operationID(raw)
	return nil
}

// wireLogEntry is SmartlockLog (GET /smartlock/log).
type wireLogEntry struct {
	ID            string `json:"id"`
	SmartlockID   int64  `json:"smartlockId"`
	AccountUserID int64  `json:"accountUserId"`
	AuthID        string `json:"authId"`
	Name          string `json:"name"`
	Action        int    `json:"action"`
	Trigger       int    `json:"trigger"`
	State         int    `json:"state"`
	Source        int    `json:"source"`
	Date          string `json:"date"`
}

// wireAuthCreate is SmartlockAuthCreate (PUT /smartlock/{smartlockId}/auth).
type wireAuthCreate struct {
	Name             string `json:"name"`
	AllowedFromDate  string `json:"allowedFromDate,omitempty"`
	AllowedUntilDate string `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int    `json:"allowedWeekDays,omitempty"`
	AllowedFromTime  int    `json:"allowedFromTime,omitempty"`
	AllowedUntilTime int    `json:"allowedUntilTime,omitempty"`
	AccountUserID    int64  `json:"accountUserId"`
	RemoteAllowed    bool   `json:"remoteAllowed"`
	Type             int    `json:"type"`
}

// wireKeypadCreate is SmartlockAuthCreate (one lock) or SmartlocksAuthCreate
// (smartlockIds) for a keypad code: type 13, a code, no accountUserId.
type wireKeypadCreate struct {
	Name             string  `json:"name"`
	AllowedFromDate  string  `json:"allowedFromDate,omitempty"`
	AllowedUntilDate string  `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int     `json:"allowedWeekDays,omitempty"`
	AllowedFromTime  int     `json:"allowedFromTime,omitempty"`
	AllowedUntilTime int     `json:"allowedUntilTime,omitempty"`
	SmartlockIDs     []int64 `json:"smartlockIds,omitempty"`
	RemoteAllowed    bool    `json:"remoteAllowed"`
	Type             int     `json:"type"`
	Code             int64   `json:"code"`
}

// wireAdvancedCreate is SmartlocksAuthAdvancedCreate
// (PUT /smartlock/auth/advanced). It has no type: app keys only.
type wireAdvancedCreate struct {
	Name             string  `json:"name"`
	AllowedFromDate  string  `json:"allowedFromDate,omitempty"`
	AllowedUntilDate string  `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int     `json:"allowedWeekDays,omitempty"`
	AllowedFromTime  int     `json:"allowedFromTime,omitempty"`
	AllowedUntilTime int     `json:"allowedUntilTime,omitempty"`
	AccountUserID    int64   `json:"accountUserId"`
	SmartlockIDs     []int64 `json:"smartlockIds"`
	RemoteAllowed    bool    `json:"remoteAllowed"`
}

// wireAdvancedAnswer is AdvancedConfirmationResponse.
type wireAdvancedAnswer struct {
	RequestID string `json:"requestId"`
	Error     string `json:"error"`
}

// wireUserCreate is AccountUserCreate (PUT /account/user).
type wireUserCreate struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Language string `json:"language,omitempty"`
}

// decodeArray reads a JSON array from r one element at a time, decoding each
// into the same *T (set to its zero value first) and handing it to each, so
// that neither the whole answer nor a slice of all its elements is ever held.
// The *T is only valid during the call: each copies what it keeps. JSON null
// is an empty array. Anything else than an array (an object, a number, an
// empty answer), invalid or truncated JSON, data after the array or an error
// from each ends the reading with that error; elements handed over until then
// stay handed over.
func decodeArray[T any](r io.Reader, each func(*T) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return unexpectedEOF(err)
	}
	switch tok {
	case nil:
	case json.Delim('['):
		var elem T
		for dec.More() {
			var zero T
			elem = zero
			if err := dec.Decode(&elem); err != nil {
				return unexpectedEOF(err)
			}
			if err := each(&elem); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return unexpectedEOF(err)
		}
	default:
		return fmt.Errorf("answer is not a JSON array but starts with %s", describeToken(tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the array")
		}
		return err
	}
	return nil
}

// unexpectedEOF turns the io.EOF of an answer that ended too early into
// io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// describeToken names the JSON value a token starts without quoting it (a
// string may be an email address).
func describeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// list returns a call's Stream that decodes a JSON array of W and converts
// each element with conv, which returns false to drop it. Once the whole
// answer is read, the kept values replace *out (nil when none was kept); a
// failed attempt leaves *out as it was. An error from conv makes the answer
// unreadable. sizeHint is how many values are expected (0: unknown); the
// slice is allocated for that many at once and grows past them.
func list[W, T any](out *[]T, sizeHint int, conv func(*W) (T, bool, error)) func(io.Reader) error {
	return func(r io.Reader) error {
		var kept []T
		if sizeHint > 0 {
			kept = make([]T, 0, sizeHint)
		}
		err := decodeArray(r, func(w *W) error {
			v, ok, err := conv(w)
			if ok && err == nil {
				kept = append(kept, v)
			}
			return err
		})
		if err != nil {
			return err
		}
		*out = kept
		return nil
	}
}

// dateLayouts are the forms Nuki's date-time strings take: RFC 3339 with or
// without fractional seconds, and Java's offset without a colon.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
}

// parseDate reads a Nuki date-time into UTC; "" is the zero time.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q is not RFC 3339", s)
}

// formatDate writes a time as Nuki does ("2026-11-26T10:00:00.000Z"); the
// zero time is "" and left out of requests.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (w wireLock) lock() bridge.Lock {
	return bridge.Lock{ID: w.SmartlockID, Name: w.Name, Type: w.Type,
		Keypad: w.Config.KeypadPaired || w.Config.Keypad2Paired}
}

func (w wireUser) user() bridge.User {
	return bridge.User{ID: w.AccountUserID, Email: w.Email, Name: w.Name, Language: w.Language}
}

func (w *wireAuth) auth() (bridge.Auth, error) {
	a := bridge.Auth{
		ID: w.ID, SmartlockID: w.SmartlockID, AccountUserID: w.AccountUserID, AuthID: w.AuthID,
		AppID: w.AppID, Type: w.Type, Name: w.Name, Enabled: w.Enabled, RemoteAllowed: w.RemoteAllowed,
		LockCount: w.LockCount, Error: w.Error, OperationID: string(w.OperationID),
		Access: bridge.Access{
			WeekDays: w.AllowedWeekDays, FromTime: w.AllowedFromTime, UntilTime: w.AllowedUntilTime,
		},
	}
	if w.Type == bridge.AuthTypeKeypadCode {
		a.Code = bridge.Secret(w.Code)
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Time
	}{
		{"allowedFromDate", w.AllowedFromDate, &a.Access.From},
		{"allowedUntilDate", w.AllowedUntilDate, &a.Access.Until},
		{"lastActiveDate", w.LastActiveDate, &a.LastActiveDate},
		{"creationDate", w.CreationDate, &a.CreationDate},
		{"updateDate", w.UpdateDate, &a.UpdateDate},
	} {
		t, err := parseDate(d.in)
		if err != nil {
			return bridge.Auth{}, fmt.Errorf("authorization %s: %s: %w", w.ID, d.name, err)
		}
		*d.out = t
	}
	return a, nil
}

func (w wireLogEntry) entry() (bridge.LogEntry, error) {
	date, err := parseDate(w.Date)
	if err != nil {
		return bridge.LogEntry{}, fmt.Errorf("log entry %s: date: %w", w.ID, err)
	}
	return bridge.LogEntry{
		ID: w.ID, SmartlockID: w.SmartlockID, AccountUserID: w.AccountUserID, AuthID: w.AuthID, Name: w.Name,
		Action: w.Action, Trigger: w.Trigger, Source: w.Source, State: w.State, Date: date,
	}, nil
}
