package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// newKeypadServer returns a server over a realBridge whose front door has a
// Nuki Keypad paired (the garden gate has none), synced so the Service
// knows it. Codes may be revealed.
func newKeypadServer(t *testing.T) (*web.Server, *realBridge) {
	t.Helper()
	rb := newRealBridge(t, bridge.Options{ExposeCodes: true})
	if err := rb.sim.SetKeypad(frontDoor.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	rb.sync()
	return rb.server(nil), rb
}

// keypadWindow is a window that opens in a day and lasts three, as
// allowed_from and allowed_until members.
var keypadWindow = fmt.Sprintf(`"allowed_from":%q,"allowed_until":%q`,
	fakeNow.Add(24*time.Hour).Format(time.RFC3339), fakeNow.Add(96*time.Hour).Format(time.RFC3339))

// A keypad code created over HTTP goes to the lock with the code given,
// shows sending until the lock is seen to have it, then scheduled; its
// digits come back only from the reveal.
func TestCreateKeypadCode(t *testing.T) {
	s, rb := newKeypadServer(t)
	h := s.Handler()
	const code = "358246"
	body := `{"kind":"keypad","name":"Gustav","language":"de","time_zone":"Europe/Berlin","smartlock_ids":[11],"code":"` + code + `",` + keypadWindow + `}`
	rec := do(t, h, "POST", "/api/v1/invitations", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), code) {
		t.Errorf("the create's answer echoes the code: %s", rec.Body)
	}
	created := decode[web.InvitationList](t, rec).Invitations
	if len(created) != 1 {
		t.Fatalf("created %d, want one keypad code", len(created))
	}
	inv := created[0]
	if inv.Kind != bridge.KindKeypad || !strings.HasPrefix(string(inv.ID), "11-k") || inv.Name != "Gustav" ||
		inv.TimeZone != "Europe/Berlin" || inv.Email != "" || inv.Status != bridge.StatusSending || !inv.HasCode ||
		!inv.Access.Until.Equal(fakeNow.Add(96*time.Hour)) {
		t.Fatalf("created %+v, want Gustav's keypad code on the front door, sending, until the window's end", inv)
	}
	var onLock []bridge.Auth
	for _, a := range rb.sim.Auths() {
		if a.Type == bridge.AuthTypeKeypadCode {
			onLock = append(onLock, a)
		}
	}
	if len(onLock) != 1 || onLock[0].SmartlockID != frontDoor.ID || onLock[0].Code.Reveal() != code {
		t.Fatalf("Nuki Web holds %d keypad codes, want the one given on the front door", len(onLock))
	}

	rb.sync()
	got := decode[web.Invitation](t, do(t, h, "GET", "/api/v1/invitations/"+string(inv.ID), ""))
	if got.Status != bridge.StatusScheduled || got.ConfirmedAt.IsZero() {
		t.Errorf("after the lock took it: %s (confirmed %v), want scheduled", got.Status, got.ConfirmedAt)
	}
	list := decode[web.InvitationList](t, do(t, h, "GET", "/api/v1/invitations?status=scheduled", "")).Invitations
	if len(list) != 1 || list[0].ID != inv.ID {
		t.Errorf("the scheduled filter lists %v, want %s", ids(list), inv.ID)
	}
	revealed := decode[web.Code](t, do(t, h, "POST", "/api/v1/invitations/"+string(inv.ID)+"/code", ""))
	if revealed.Code != code {
		t.Errorf("the reveal gives %q, want the code given", revealed.Code)
	}

	t.Run("a drawn code, without e-mail or window start", func(t *testing.T) {
		rec := do(t, h, "POST", "/api/v1/invitations", `{"kind":"keypad","name":"Hanna","smartlock_ids":[11],"allowed_until":"`+
			fakeNow.Add(48*time.Hour).Format(time.RFC3339)+`"}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		inv := decode[web.InvitationList](t, rec).Invitations[0]
		drawn := decode[web.Code](t, do(t, h, "POST", "/api/v1/invitations/"+string(inv.ID)+"/code", "")).Code
		if bridge.CheckKeypadCode(bridge.Secret(drawn)) != nil || drawn == code {
			t.Errorf("drawn code %q: want six digits 1-9, not starting with 12, other than the first", drawn)
		}
	})
}

// A keypad code the core or the lock cannot take is refused as a problem,
// before Nuki Web is asked, and no message carries a code given.
func TestCreateKeypadCodeRefused(t *testing.T) {
	s, rb := newKeypadServer(t)
	h := s.Handler()
	if _, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: frontDoor.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: "777777", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	rb.sync()
	until := fmt.Sprintf(`"allowed_until":%q`, fakeNow.Add(48*time.Hour).Format(time.RFC3339))
	tests := []struct {
		name, body string
		status     int
		detail     string
		secret     string
	}{
		{"lock without keypad", `{"kind":"keypad","name":"G","smartlock_ids":[22],` + until + `}`, 400,
			"lock 22 (Garden gate) has no Nuki Keypad paired", ""},
		{"no window end", `{"kind":"keypad","name":"G","smartlock_ids":[11]}`, 400,
			"allowed_until is required for a keypad code", ""},
		{"window over", `{"kind":"keypad","name":"G","smartlock_ids":[11],"allowed_until":"2026-05-01T00:00:00Z"}`, 400,
			"allowed_until is in the past", ""},
		{"code too short", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":"98765",` + until + `}`, 400,
			"a keypad code has 6 digits, this one has 5", "98765"},
		{"code with 0", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":"908765",` + until + `}`, 400,
			"only the digits 1 to 9", "908765"},
		{"code starting 12", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":"123456",` + until + `}`, 400,
			"start with 12", "123456"},
		{"code a number", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":654321,` + until + `}`, 400,
			"code must be a string of six digits", "654321"},
		{"code too long", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":"98765432198765432",` + until + `}`, 400,
			"code must be at most 16 characters", "98765432198765432"},
		{"code in use on the lock", `{"kind":"keypad","name":"G","smartlock_ids":[11],"code":"777777",` + until + `}`, 409,
			"this code is already used on one of the locks", "777777"},
		{"delivery", `{"kind":"keypad","name":"G","smartlock_ids":[11],"delivery":"nuki",` + until + `}`, 400,
			"delivery does not apply to keypad codes", ""},
		{"time zone", `{"kind":"keypad","name":"G","smartlock_ids":[11],"time_zone":"Mars/Olympus",` + until + `}`, 400,
			`time_zone "Mars/Olympus" is not a time zone`, ""},
		{"code for an app invitation", `{"email":"g@example.com","name":"G","smartlock_ids":[11],"code":"987654"}`, 400,
			"code and time_zone apply to keypad codes only", "987654"},
		{"kind", `{"kind":"card","name":"G","smartlock_ids":[11]}`, 400, `kind "card" must be "app" or "keypad"`, ""},
	}
	rb.sim.ResetCalls()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, "POST", "/api/v1/invitations", tt.body)
			wantProblem(t, rec, tt.status, tt.detail)
			if tt.secret != "" && strings.Contains(rec.Body.String(), tt.secret) {
				t.Errorf("the refusal echoes the code: %s", rec.Body)
			}
		})
	}
	if n := len(rb.svc.Invitations(bridge.Filter{})); n != 0 || rb.sim.Calls() != 0 {
		t.Errorf("refused creates made %d keypad codes and %d calls to Nuki Web", n, rb.sim.Calls())
	}
}

// A bulk create gives every guest a keypad code of their own; guests need
// no address, and a code for all of them is refused.
func TestBulkKeypadCodes(t *testing.T) {
	s, rb := newKeypadServer(t)
	h := s.Handler()
	shared := fmt.Sprintf(`"kind":"keypad","smartlock_ids":[11],"allowed_until":%q`, fakeNow.Add(48*time.Hour).Format(time.RFC3339))
	body := `{` + shared + `,"guests":[{"name":"Ida"},{"name":"Jon","email":"jon@example.com"}]}`
	got := decode[bulkAnswer](t, do(t, h, "POST", "/api/v1/invitations/bulk", body))
	if got.Created != 2 || got.Failed != 0 {
		t.Fatalf("bulk keypad codes: %v, want both rows made", got.outcomes())
	}
	codes := map[string]bool{}
	for _, r := range got.Results {
		inv := r.Invitations[0]
		if inv.Kind != bridge.KindKeypad {
			t.Errorf("row %d made a %s, want a keypad code", r.Row, inv.Kind)
		}
		codes[decode[web.Code](t, do(t, h, "POST", "/api/v1/invitations/"+string(inv.ID)+"/code", "")).Code] = true
	}
	if len(codes) != 2 {
		t.Errorf("the guests got %d different codes, want one each", len(codes))
	}
	rb.sim.ResetCalls()
	wantProblem(t, do(t, h, "POST", "/api/v1/invitations/bulk", `{`+shared+`,"code":"987654","guests":[{"name":"Kai"}]}`),
		400, `unknown field "code"`)
	if rb.sim.Calls() != 0 {
		t.Errorf("a refused bulk create called Nuki Web %d times", rb.sim.Calls())
	}
}

// Keypad codes made elsewhere are listed without their digits and can be
// adopted, once.
func TestUnmanagedKeypadCodes(t *testing.T) {
	s, rb := newKeypadServer(t)
	h := s.Handler()
	empty := decode[web.UnmanagedCodeList](t, do(t, h, "GET", "/api/v1/keypad-codes/unmanaged", ""))
	if empty.KeypadCodes == nil || len(empty.KeypadCodes) != 0 {
		t.Fatalf("with none made elsewhere the list is %+v, want an empty list", empty)
	}
	window := bridge.Access{From: fakeNow.Add(-time.Hour), Until: fakeNow.Add(72 * time.Hour)}
	made, err := rb.sim.AddAuth(bridge.Auth{SmartlockID: frontDoor.ID, Type: bridge.AuthTypeKeypadCode, Name: "Cleaner",
		Code: "468135", Enabled: true, Access: window, CreationDate: fakeNow.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rb.sync()

	rec := do(t, h, "GET", "/api/v1/keypad-codes/unmanaged", "")
	if strings.Contains(rec.Body.String(), "468135") {
		t.Errorf("the list shows a code's digits: %s", rec.Body)
	}
	list := decode[web.UnmanagedCodeList](t, rec).KeypadCodes
	if len(list) != 1 {
		t.Fatalf("listed %d codes made elsewhere, want the cleaner's", len(list))
	}
	if c := list[0]; c.AuthID != made.ID || c.SmartlockID != frontDoor.ID || c.LockName != frontDoor.Name || c.Name != "Cleaner" ||
		!c.Access.From.Equal(window.From) || !c.Access.Until.Equal(window.Until) || !c.CreatedAt.Equal(fakeNow.Add(-2*time.Hour)) {
		t.Errorf("listed %+v, want the cleaner's code on the front door with its window", c)
	}

	for _, tt := range []struct{ name, body, detail string }{
		{"no lock", `{"auth_id":"` + made.ID + `"}`, "smartlock_id is required"},
		{"no id", `{"smartlock_id":11}`, "auth_id is required"},
		{"unknown field", `{"smartlock_id":11,"auth_id":"x","code":"468135"}`, `unknown field "code"`},
		{"long id", `{"smartlock_id":11,"auth_id":"` + strings.Repeat("a", 65) + `"}`, "auth_id must be at most 64 characters"},
		{"no body", ``, "needs a JSON body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(t, h, "POST", "/api/v1/keypad-codes/adopt", tt.body), http.StatusBadRequest, tt.detail)
		})
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/keypad-codes/adopt", `{"smartlock_id":22,"auth_id":"`+made.ID+`"}`),
		http.StatusNotFound, "listed no keypad code made elsewhere")

	rec = do(t, h, "POST", "/api/v1/keypad-codes/adopt", `{"smartlock_id":11,"auth_id":"`+made.ID+`"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("adopt: %d %s", rec.Code, rec.Body)
	}
	inv := decode[web.Invitation](t, rec)
	if inv.Kind != bridge.KindKeypad || !inv.Adopted || inv.Name != "Cleaner" || inv.AuthID != made.ID ||
		inv.Status != bridge.StatusActive || !inv.Access.Until.Equal(window.Until) {
		t.Errorf("adopted %+v, want the cleaner's code as an active keypad code of ours", inv)
	}
	if inv.Delivery != bridge.DeliveryCustom {
		t.Errorf("the adopted code's delivery is %q, want custom: nuki-invites hands it over", inv.Delivery)
	}
	if !slices.ContainsFunc(inv.History, func(e web.HistoryEntry) bool { return e.Event == bridge.EventAdopted && e.Actor == "web" }) {
		t.Errorf("the history %+v does not record the adoption by the web", inv.History)
	}
	if left := decode[web.UnmanagedCodeList](t, do(t, h, "GET", "/api/v1/keypad-codes/unmanaged", "")).KeypadCodes; len(left) != 0 {
		t.Errorf("after the adoption %d codes are listed as made elsewhere, want none", len(left))
	}
	wantProblem(t, do(t, h, "POST", "/api/v1/keypad-codes/adopt", `{"smartlock_id":11,"auth_id":"`+made.ID+`"}`),
		http.StatusNotFound, "listed no keypad code made elsewhere")
}
