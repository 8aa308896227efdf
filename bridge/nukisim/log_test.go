package nukisim

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestUseIsLoggedAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.mustCreate(t)
	f.advance(time.Minute)
	e, err := f.sim.Use(f.lock.ID, f.user.ID, bridge.ActionUnlatch)
	if err != nil {
		t.Fatal(err)
	}
	want := bridge.LogEntry{ID: e.ID, SmartlockID: f.lock.ID, AccountUserID: f.user.ID, AuthID: a.ID, Name: "Ann",
		Action: bridge.ActionUnlatch, Trigger: bridge.TriggerApp, Source: 0, State: 0, Date: f.c.Now()}
	if e != want || e.ID == "" {
		t.Fatalf("entry %+v\nwant  %+v", e, want)
	}
	if got := f.sim.Log(); len(got) != 1 || got[0] != e {
		t.Fatalf("Log() %+v", got)
	}
	_, body := f.call("GET", "/smartlock/log", "")
	wire := decodeJSON[[]map[string]any](t, body)
	if len(wire) != 1 {
		t.Fatalf("GET /smartlock/log %s", body)
	}
	for k, v := range map[string]any{"id": e.ID, "smartlockId": float64(f.lock.ID), "deviceType": 0.0,
		"accountUserId": float64(f.user.ID), "authId": a.ID, "name": "Ann", "action": 3.0, "trigger": 5.0,
		"state": 0.0, "autoUnlock": false, "date": "2026-11-26T10:01:02.000Z", "source": 0.0} {
		if wire[0][k] != v {
			t.Errorf("%s = %v, want %v", k, wire[0][k], v)
		}
	}
	if len(wire[0]) != 12 {
		t.Errorf("fields %v", wire[0])
	}
	sim := f.sim
	sim.mu.Lock()
	redeemed := sim.state.auths[a.ID].redeemed
	sim.mu.Unlock()
	if !redeemed {
		t.Error("a use did not redeem the authorization")
	}
	if got := sim.AuthsFor(f.user.ID)[0]; !got.Equal(a) {
		t.Errorf("a use changed the listing before a sync:\n%+v\n%+v", got, a)
	}
}

func TestUseRefusals(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.mustCreate(t)
	if status, _ := f.call("POST", f.authPath(a), `{"name":"Ann","enabled":false}`); status != 204 {
		t.Fatal(status)
	}
	if _, err := f.sim.Use(f.lock.ID, f.user.ID, bridge.ActionLock); err != nil {
		t.Fatalf("still enabled until the lock has the change: %v", err)
	}
	f.advance(2 * time.Second)
	other, _ := f.sim.AddUser(bridge.User{Email: "bo@example.com", Name: "Bo"})
	tests := []struct {
		name         string
		lock, user   int64
		action       int
		want         error
		pendingFirst bool
	}{
		{"disabled", f.lock.ID, f.user.ID, bridge.ActionUnlock, bridge.ErrConflict, false},
		{"no authorization", f.lock.ID, other.ID, bridge.ActionUnlock, bridge.ErrNotFound, false},
		{"no lock", 1, f.user.ID, bridge.ActionUnlock, bridge.ErrNotFound, false},
		{"no action", f.lock.ID, f.user.ID, 0, bridge.ErrInvalid, false},
		{"not yet taken by the lock", f.lock.ID, other.ID, bridge.ActionUnlock, bridge.ErrNotFound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pendingFirst {
				if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", tt.lock),
					fmt.Sprintf(`{"name":"Bo","accountUserId":%d,"remoteAllowed":true}`, tt.user)); status != 204 {
					t.Fatal(status)
				}
			}
			if _, err := f.sim.Use(tt.lock, tt.user, tt.action); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if n := len(f.sim.Log()); n != 1 {
		t.Fatalf("%d log entries, want only the one use allowed", n)
	}
}

func TestLogQuery(t *testing.T) {
	f := newFixture(t, Options{})
	back := f.sim.AddLock(bridge.Lock{Name: "Gate", Type: 2})
	bo, _ := f.sim.AddUser(bridge.User{Email: "bo@example.com", Name: "Bo"})
	f.mustCreate(t)
	boAuth, err := f.sim.AddAuth(bridge.Auth{SmartlockID: back.ID, AccountUserID: bo.ID, Name: "Bo", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	// 60 entries a minute apart: Ann on Front (even), Bo on the Gate opener
	// (odd); every third one a lock, the rest unlocks.
	var entries []bridge.LogEntry
	for i := range 60 {
		lock, user := f.lock.ID, f.user.ID
		if i%2 == 1 {
			lock, user = back.ID, bo.ID
		}
		action := bridge.ActionUnlock
		if i%3 == 0 {
			action = bridge.ActionLock
		}
		e, err := f.sim.Use(lock, user, action)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
		f.c.Advance(time.Minute)
	}
	newest := slices.Clone(entries)
	slices.Reverse(newest)
	pick := func(keep func(i int, e bridge.LogEntry) bool) []string {
		var ids []string
		for i, e := range newest {
			if keep(59-i, e) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	first := func(n int, ids []string) []string { return ids[:min(n, len(ids))] }
	all := func(int, bridge.LogEntry) bool { return true }
	date := func(i int) string { return url.QueryEscape(entries[i].Date.Format(time.RFC3339)) }

	tests := []struct {
		name, path string
		want       []string
	}{
		{"newest first, 20 by default", "/smartlock/log", first(20, pick(all))},
		{"limit", "/smartlock/log?limit=3", first(3, pick(all))},
		{"limit cut to 50", "/smartlock/log?limit=500", first(50, pick(all))},
		{"unreadable limit", "/smartlock/log?limit=x", first(20, pick(all))},
		{"one lock", fmt.Sprintf("/smartlock/%d/log?limit=50", back.ID),
			pick(func(i int, _ bridge.LogEntry) bool { return i%2 == 1 })},
		{"account user", fmt.Sprintf("/smartlock/log?accountUserId=%d&limit=50", f.user.ID),
			pick(func(i int, _ bridge.LogEntry) bool { return i%2 == 0 })},
		{"authorization", fmt.Sprintf("/smartlock/%d/log?authId=%s&limit=50", back.ID, boAuth.ID),
			pick(func(i int, _ bridge.LogEntry) bool { return i%2 == 1 })},
		{"authorization on another lock", fmt.Sprintf("/smartlock/%d/log?authId=%s", f.lock.ID, boAuth.ID), nil},
		{"action", "/smartlock/log?action=2&limit=50", pick(func(i int, _ bridge.LogEntry) bool { return i%3 == 0 })},
		{"dates, both ends included", "/smartlock/log?fromDate=" + date(10) + "&toDate=" + date(12),
			[]string{entries[12].ID, entries[11].ID, entries[10].ID}},
		{"older than an entry", "/smartlock/log?limit=2&id=" + entries[30].ID, []string{entries[29].ID, entries[28].ID}},
		{"older than the oldest", "/smartlock/log?id=" + entries[0].ID, nil},
		{"older than an unknown entry", "/smartlock/log?id=nope", nil},
		{"combined", fmt.Sprintf("/smartlock/%d/log?accountUserId=%d&action=1&id=%s", f.lock.ID, f.user.ID, entries[9].ID),
			[]string{entries[8].ID, entries[4].ID, entries[2].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call("GET", tt.path, "")
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			var got []string
			for _, e := range decodeJSON[[]wireLog](t, body) {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %d entries %v\nwant %d %v", len(got), got, len(tt.want), tt.want)
			}
		})
	}
	t.Run("an opener's device type", func(t *testing.T) {
		_, body := f.call("GET", fmt.Sprintf("/smartlock/%d/log?limit=1", back.ID), "")
		if !strings.Contains(string(body), `"deviceType":2`) {
			t.Fatalf("%s", body)
		}
	})
	t.Run("Log is oldest first", func(t *testing.T) {
		if got := f.sim.Log(); !slices.Equal(got, entries) {
			t.Fatalf("Log() differs from the uses")
		}
	})
}
