package bridge_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestCreateRequestJSON(t *testing.T) {
	var r bridge.CreateRequest
	body := `{"request_id":"r1","email":"ana@example.com","name":"Ana","language":"DE","smartlock_ids":[1,2],
		"delivery":"custom","remote_allowed":true,"allowed_from":"2026-12-01T10:00:00+01:00",
		"allowed_until":"2026-12-24T18:00:00Z","allowed_weekdays":["mon","Friday","sun"],
		"allowed_from_time":"08:30","allowed_until_time":"18:00"}`
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	want := bridge.Access{From: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Until: time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC),
		WeekDays: 64 | 4 | 1, FromTime: 8*60 + 30, UntilTime: 18 * 60}
	if !r.Access.Equal(want) {
		t.Errorf("access %+v, want %+v", r.Access, want)
	}
	if r.RequestID != "r1" || r.Email != "ana@example.com" || len(r.SmartlockIDs) != 2 || r.Delivery != bridge.DeliveryCustom || !r.RemoteAllowed {
		t.Errorf("request %+v", r)
	}
	if err := r.Check(); err != nil || r.Language != "de" {
		t.Errorf("Check() = %v, language %q", err, r.Language)
	}
	if err := json.Unmarshal([]byte(`{"allowed_weekdays":127}`), &r); err != nil || r.Access.WeekDays != 127 {
		t.Errorf("bitmask: %v, %d", err, r.Access.WeekDays)
	}
}

func TestCreateRequestJSONRefusesBadInput(t *testing.T) {
	tests := []struct{ body, want string }{
		{`[]`, "must be a JSON object"},
		{`{"name":5}`, "name must be a string"},
		{`{"emial":"a@example.com"}`, `unknown field "emial"`},
		{`{"smartlock_ids":"1"}`, "smartlock_ids must be a list of lock ids"},
		{`{"allowed_from":"tomorrow","allowed_from_time":"8:30"}`, `+02:00; allowed_from_time "8:30" must be a time of day`},
		{`{"allowed_weekdays":["funday"]}`, `"funday" is not one of mon`},
		{`{"allowed_weekdays":128}`, "bitmask from 0 to 127"},
		{`{"allowed_until_time":"24:00"}`, "must be a time of day"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			var r bridge.CreateRequest
			err := json.Unmarshal([]byte(tt.body), &r)
			if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unmarshal = %v, want ErrInvalid saying %q", err, tt.want)
			}
		})
	}
}

func TestCreateRequestCheckNamesEveryProblem(t *testing.T) {
	r := bridge.CreateRequest{Email: "Ana <ana@example.com>", Language: "pt", SmartlockIDs: []int64{3, 3, 0},
		Delivery: "post", Access: bridge.Access{FromTime: 600, UntilTime: 500}}
	err := r.Check()
	for _, want := range []string{"is not an email address", "name is required", `language "pt"`, "3 is listed twice",
		"0 is not a lock id", `delivery "post"`, "later in the day"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check() = %v; lacks %q", err, want)
		}
	}
}

func TestLongValuesAreNeverEchoed(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		body string
	}{
		{"email", `{"email":"` + long + `@example.com","name":"A","smartlock_ids":[1]}`},
		{"language", `{"email":"a@example.com","name":"A","language":"` + long + `","smartlock_ids":[1]}`},
		{"weekdays", `{"email":"a@example.com","name":"A","smartlock_ids":[1],"allowed_weekdays":["` + long + `"]}`},
		{"time", `{"email":"a@example.com","name":"A","smartlock_ids":[1],"allowed_from_time":"` + long + `"}`},
		{"date", `{"email":"a@example.com","name":"A","smartlock_ids":[1],"allowed_from":"` + long + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r bridge.CreateRequest
			err := json.Unmarshal([]byte(tt.body), &r)
			if err == nil {
				err = r.Check()
			}
			if !errors.Is(err, bridge.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if len(err.Error()) > 400 {
				t.Errorf("the error is %d bytes long; it must quote at most a short prefix", len(err.Error()))
			}
		})
	}
}

func TestTooManyLocksAreRefusedQuickly(t *testing.T) {
	ids := make([]int64, 1_000_000)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	r := bridge.CreateRequest{Email: "a@example.com", Name: "A", SmartlockIDs: ids}
	err := r.Check()
	if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), "at most 200") {
		t.Errorf("error %v, want a refusal naming the limit", err)
	}
}
