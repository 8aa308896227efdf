package nukisim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The JSON shapes the simulator writes, named after the spec's definitions.

// wireLock is Smartlock, with its required properties.
type wireLock struct {
	SmartlockID   int64  `json:"smartlockId"`
	AccountID     int64  `json:"accountId"`
	Type          int    `json:"type"`
	AuthID        int64  `json:"authId"`
	Name          string `json:"name"`
	Favorite      bool   `json:"favorite"`
	ServerState   int    `json:"serverState"` // 0 ok, 4 offline
	AdminPinState int    `json:"adminPinState"`
	CreationDate  string `json:"creationDate"`
	UpdateDate    string `json:"updateDate"`
	// Config is Smartlock.Config with its required properties; it says
	// whether a keypad is paired.
	Config wireLockConfig `json:"config"`
}

// wireLockConfig is Smartlock.Config. The simulated locks apply access
// windows in UTC; timezoneId is a placeholder (0) and timezoneOffset 0.
type wireLockConfig struct {
	Name            string  `json:"name"`
	Latitude        float64 `json:"latitude"`
	Longitude       float64 `json:"longitude"`
	SingleLock      bool    `json:"singleLock"`
	AdvertisingMode int     `json:"advertisingMode"`
	KeypadPaired    bool    `json:"keypadPaired"`
	Keypad2Paired   bool    `json:"keypad2Paired"`
	TimezoneID      int     `json:"timezoneId"`
	TimezoneOffset  int     `json:"timezoneOffset"`
}

// wireAuth is SmartlockAuth.
type wireAuth struct {
	ID               string `json:"id"`
	SmartlockID      int64  `json:"smartlockId"`
	AccountUserID    int64  `json:"accountUserId,omitempty"`
	AuthID           int64  `json:"authId,omitempty"`
	Code             int    `json:"code,omitempty"` // keypad codes only
	AppID            int64  `json:"appId,omitempty"`
	Type             int    `json:"type"`
	Name             string `json:"name"`
	Enabled          bool   `json:"enabled"`
	RemoteAllowed    bool   `json:"remoteAllowed"`
	LockCount        int    `json:"lockCount"`
	AllowedFromDate  string `json:"allowedFromDate,omitempty"`
	AllowedUntilDate string `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int    `json:"allowedWeekDays,omitempty"`
	AllowedFromTime  int    `json:"allowedFromTime,omitempty"`
	AllowedUntilTime int    `json:"allowedUntilTime,omitempty"`
	LastActiveDate   string `json:"lastActiveDate,omitempty"`
	CreationDate     string `json:"creationDate"`
	UpdateDate       string `json:"updateDate"`
	// OperationID is Nuki's ObjectId, written as its 24 hex digits.
	OperationID string `json:"operationId,omitempty"`
	Error       string `json:"error,omitempty"`
}

// wireLog is SmartlockLog.
type wireLog struct {
	ID            string `json:"id"`
	SmartlockID   int64  `json:"smartlockId"`
	DeviceType    int    `json:"deviceType"`
	AccountUserID int64  `json:"accountUserId,omitempty"`
	AuthID        string `json:"authId,omitempty"`
	Name          string `json:"name"`
	Action        int    `json:"action"`
	Trigger       int    `json:"trigger"`
	State         int    `json:"state"`
	AutoUnlock    bool   `json:"autoUnlock"`
	Date          string `json:"date"`
	Source        int    `json:"source"`
}

// wireUser is AccountUser.
type wireUser struct {
	AccountUserID int64  `json:"accountUserId"`
	AccountID     int64  `json:"accountId"`
	Type          int    `json:"type"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Language      string `json:"language"`
	CreationDate  string `json:"creationDate"`
	UpdateDate    string `json:"updateDate"`
}

// wireError is Nuki's error body.
type wireError struct {
	Code         int    `json:"code"`
	Description  string `json:"description"`
	HomeRef      string `json:"homeRef"`
	ReasonPhrase string `json:"reasonPhrase"`
	URI          string `json:"uri"`
}

// wireAuthCreate is the union of SmartlockAuthCreate, SmartlocksAuthCreate
// and SmartlocksAuthAdvancedCreate; pointers tell absent from zero.
type wireAuthCreate struct {
	Name             *string `json:"name"`
	AllowedFromDate  *string `json:"allowedFromDate"`
	AllowedUntilDate *string `json:"allowedUntilDate"`
	AllowedWeekDays  *int    `json:"allowedWeekDays"`
	AllowedFromTime  *int    `json:"allowedFromTime"`
	AllowedUntilTime *int    `json:"allowedUntilTime"`
	AccountUserID    *int64  `json:"accountUserId"`
	SmartlockIDs     []int64 `json:"smartlockIds"`
	RemoteAllowed    *bool   `json:"remoteAllowed"`
	Type             *int    `json:"type"`
	Code             *int    `json:"code"`
	Enabled          *bool   `json:"enabled"` // SmartlockAuthUpdate only
}

// wireUserCreate is AccountUserCreate and AccountUserUpdate.
type wireUserCreate struct {
	Email    *string `json:"email"`
	Name     *string `json:"name"`
	Language *string `json:"language"`
	Type     *int    `json:"type"`
}

// wireAdvancedAnswer is AdvancedConfirmationResponse.
type wireAdvancedAnswer struct {
	RequestID string `json:"requestId"`
	Error     string `json:"error,omitempty"`
}

// wireAuthCreation is the Advanced API's outcome webhook.
type wireAuthCreation struct {
	Type      string           `json:"type"`
	RequestID string           `json:"requestId"`
	Success   bool             `json:"success"`
	Detail    []wireAuthDetail `json:"detail"`
}

type wireAuthDetail struct {
	SmartlockID int64  `json:"smartlockId"`
	Success     bool   `json:"success"`
	ErrorCode   string `json:"errorCode,omitempty"`
	ID          string `json:"id"`
	Code        string `json:"code,omitempty"`
}

// wireDeviceAuths is a DEVICE_AUTHS notification.
type wireDeviceAuths struct {
	Feature       string   `json:"feature"`
	Deleted       bool     `json:"deleted"`
	SmartlockAuth wireAuth `json:"smartlockAuth"`
}

const dateLayout = "2006-01-02T15:04:05.000Z"

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateLayout)
}

func parseDate(s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not RFC 3339", *s)
	}
	return t.UTC(), nil
}

func toWireLock(l *lockState) wireLock {
	w := wireLock{SmartlockID: l.ID, AccountID: accountID, Type: l.Type, Name: l.Name,
		CreationDate: formatDate(l.created), UpdateDate: formatDate(l.created),
		Config: wireLockConfig{Name: l.Name, KeypadPaired: l.keypad == Keypad1, Keypad2Paired: l.keypad == Keypad2}}
	if l.offline {
		w.ServerState = 4
	}
	return w
}

func toWireAuth(a *bridge.Auth) wireAuth {
	code := 0
	if a.Type == bridge.AuthTypeKeypadCode {
		code, _ = strconv.Atoi(a.Code.Reveal())
	}
	return wireAuth{
		ID: a.ID, SmartlockID: a.SmartlockID, AccountUserID: a.AccountUserID, AuthID: a.AuthID, Code: code, AppID: a.AppID,
		Type: a.Type, Name: a.Name, Enabled: a.Enabled, RemoteAllowed: a.RemoteAllowed, LockCount: a.LockCount,
		AllowedFromDate: formatDate(a.Access.From), AllowedUntilDate: formatDate(a.Access.Until),
		AllowedWeekDays: a.Access.WeekDays, AllowedFromTime: a.Access.FromTime, AllowedUntilTime: a.Access.UntilTime,
		LastActiveDate: formatDate(a.LastActiveDate), CreationDate: formatDate(a.CreationDate),
		UpdateDate: formatDate(a.UpdateDate), OperationID: a.OperationID, Error: a.Error,
	}
}

func toWireLog(e *logEntry) wireLog {
	return wireLog{ID: e.ID, SmartlockID: e.SmartlockID, DeviceType: e.deviceType, AccountUserID: e.AccountUserID,
		AuthID: e.AuthID, Name: e.Name, Action: e.Action, Trigger: e.Trigger, State: e.State, Date: formatDate(e.Date),
		Source: e.Source}
}

func toWireUser(u *userState) wireUser {
	return wireUser{AccountUserID: u.ID, AccountID: accountID, Email: u.Email, Name: u.Name, Language: u.Language,
		CreationDate: formatDate(u.created), UpdateDate: formatDate(u.updated)}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers status with Nuki's error body.
func writeError(w http.ResponseWriter, status int, description string) {
	writeJSON(w, status, wireError{
		Code: status, Description: description, HomeRef: "/", ReasonPhrase: http.StatusText(status),
		URI: fmt.Sprintf("https://www.rfc-editor.org/rfc/rfc9110#status.%d", status),
	})
}
