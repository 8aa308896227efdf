package nukiweb

import (
	"fmt"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The JSON shapes of Nuki Web, reduced to the fields the bridge reads. Names
// follow the spec's definitions (Smartlock, SmartlockAuth, AccountUser, …).

type wireLock struct {
	SmartlockID int64  `json:"smartlockId"`
	Name        string `json:"name"`
	Type        int    `json:"type"`
}

type wireUser struct {
	AccountUserID int64  `json:"accountUserId"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Language      string `json:"language"`
}

type wireAuth struct {
	ID               string `json:"id"`
	SmartlockID      int64  `json:"smartlockId"`
	AccountUserID    int64  `json:"accountUserId"`
	AuthID           int64  `json:"authId"`
	AppID            int64  `json:"appId"`
	Type             int    `json:"type"`
	Name             string `json:"name"`
	Enabled          bool   `json:"enabled"`
	RemoteAllowed    bool   `json:"remoteAllowed"`
	LockCount        int    `json:"lockCount"`
	AllowedFromDate  string `json:"allowedFromDate"`
	AllowedUntilDate string `json:"allowedUntilDate"`
	AllowedWeekDays  int    `json:"allowedWeekDays"`
	AllowedFromTime  int    `json:"allowedFromTime"`
	AllowedUntilTime int    `json:"allowedUntilTime"`
	LastActiveDate   string `json:"lastActiveDate"`
	CreationDate     string `json:"creationDate"`
	UpdateDate       string `json:"updateDate"`
	Error            string `json:"error"`
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
	return bridge.Lock{ID: w.SmartlockID, Name: w.Name, Type: w.Type}
}

func (w wireUser) user() bridge.User {
	return bridge.User{ID: w.AccountUserID, Email: w.Email, Name: w.Name, Language: w.Language}
}

func (w *wireAuth) auth() (bridge.Auth, error) {
	a := bridge.Auth{
		ID: w.ID, SmartlockID: w.SmartlockID, AccountUserID: w.AccountUserID, AuthID: w.AuthID,
		AppID: w.AppID, Type: w.Type, Name: w.Name, Enabled: w.Enabled, RemoteAllowed: w.RemoteAllowed,
		LockCount: w.LockCount, Error: w.Error,
		Access: bridge.Access{
			WeekDays: w.AllowedWeekDays, FromTime: w.AllowedFromTime, UntilTime: w.AllowedUntilTime,
		},
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
