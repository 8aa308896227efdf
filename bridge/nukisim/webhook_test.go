package nukisim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestDeviceAuthsWhenTheLockCarriesOut(t *testing.T) {
	rc, url := newReceiver(t)
	f := newFixture(t, Options{WebhookURL: url, WebhookSecret: "whsec"})
	var a bridge.Auth
	steps := []struct {
		name    string
		write   func()
		deleted bool
		check   func(auth map[string]any) bool
	}{
		{"create", func() { f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()) }, false,
			func(m map[string]any) bool {
				a = f.sim.AuthsFor(f.user.ID)[0]
				return m["id"] == a.ID && m["authId"] == 1.0 && m["operationId"] == nil
			}},
		{"modify", func() { f.call("POST", f.authPath(a), `{"name":"Ann B"}`) }, false,
			func(m map[string]any) bool { return m["name"] == "Ann B" && m["operationId"] == nil }},
		{"delete", func() { f.call("DELETE", f.authPath(a), "") }, true,
			func(m map[string]any) bool { return m["id"] == a.ID && m["operationId"] == nil }},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.write()
			f.sim.Settle()
			time.Sleep(20 * time.Millisecond)
			if n := len(rc.received("DEVICE_AUTHS")); n != i {
				t.Fatalf("%d notifications before the lock carried it out, want %d", n, i)
			}
			f.advance(2 * time.Second)
			waitFor(t, "DEVICE_AUTHS", func() bool { return len(rc.received("DEVICE_AUTHS")) == i+1 })
			got := rc.received("DEVICE_AUTHS")[i]
			auth, _ := got["smartlockAuth"].(map[string]any)
			if got["deleted"] != st.deleted || auth == nil || !st.check(auth) {
				t.Fatalf("notification %v", got)
			}
		})
	}
	t.Run("nothing for redemption, use or sync", func(t *testing.T) {
		b := f.mustCreate(t)
		_ = f.sim.Accept(b.SmartlockID, f.user.ID)
		f.use(t)
		_ = f.sim.SyncLock(f.lock.ID)
		f.advance(48 * time.Hour)
		f.sim.Close()
		if n := len(rc.received("DEVICE_AUTHS")); n != 4 {
			t.Fatalf("%d notifications, want 4 (3 above and the create)", n)
		}
	})
}

func TestDeliveriesAreRepeatedUntilAnswered2xx(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // the receiver's answers; 200 afterwards
		want     []int // the statuses recorded
	}{
		{"first time", nil, []int{200}},
		{"after two failures", []int{500, 404}, []int{500, 404, 200}},
		{"given up after five attempts", []int{503, 503, 503, 503, 503, 503}, []int{503, 503, 503, 503, 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, url := newReceiver(t, tt.statuses...)
			f := newFixture(t, Options{WebhookURL: url, WebhookSecret: "whsec", WebhookRetry: time.Millisecond})
			if status, _ := f.call("PUT", fmt.Sprintf("/smartlock/%d/auth", f.lock.ID), f.createBody()); status != 204 {
				t.Fatal(status)
			}
			f.advance(2 * time.Second)
			waitFor(t, "the attempts", func() bool { return len(f.sim.Webhooks()) == len(tt.want) })
			f.sim.Close()
			d := f.sim.Webhooks()
			if len(d) != len(tt.want) {
				t.Fatalf("deliveries %+v", d)
			}
			for i, want := range tt.want {
				if d[i].Status != want || d[i].Attempt != i+1 || d[i].Kind != "DEVICE_AUTHS" {
					t.Errorf("attempt %d: %+v, want status %d", i+1, d[i], want)
				}
			}
			if n := len(rc.received("DEVICE_AUTHS")); n != 1 && tt.want[len(tt.want)-1] == 200 {
				t.Errorf("received %d", n)
			}
		})
	}
	t.Run("an unreachable receiver", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		f := newFixture(t, Options{WebhookURL: gone.URL, WebhookRetry: time.Millisecond})
		f.mustCreate(t)
		waitFor(t, "five attempts", func() bool { return len(f.sim.Webhooks()) == maxAttempts })
		for _, d := range f.sim.Webhooks() {
			if d.Status != 0 || d.Error == "" {
				t.Errorf("attempt %+v", d)
			}
		}
	})
	t.Run("Close ends the retries", func(t *testing.T) {
		_, url := newReceiver(t, 500, 500)
		f := newFixture(t, Options{WebhookURL: url, WebhookSecret: "whsec", WebhookRetry: time.Hour})
		f.mustCreate(t)
		waitFor(t, "the first attempt", func() bool { return len(f.sim.Webhooks()) == 1 })
		done := make(chan struct{})
		go func() { f.sim.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close waited for the retry")
		}
		if d := f.sim.Webhooks(); len(d) != 1 || d[0].Status != 500 {
			t.Fatalf("deliveries %+v", d)
		}
	})
}

func TestUserPaging(t *testing.T) {
	tests := []struct {
		name   string
		ignore bool
		query  string
		want   int
	}{
		{"everyone", false, "", 5},
		{"a page", false, "?offset=1&limit=2", 2},
		{"the last page", false, "?offset=4&limit=2", 1},
		{"past the end", false, "?offset=9&limit=2", 0},
		{"ignored: everyone", true, "", 5},
		{"ignored: a page", true, "?offset=1&limit=2", 5},
		{"ignored: past the end", true, "?offset=9&limit=2", 5},
		{"the email filter still applies", true, "?email=guest3@example.com&limit=0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv := newServer(t, Options{IgnoreUserPaging: tt.ignore})
			if _, err := sim.Seed(SeedOptions{Users: 5}); err != nil {
				t.Fatal(err)
			}
			status, body := call(t, srv, "GET", "/account/user"+tt.query, "")
			if got := decodeJSON[[]wireUser](t, body); status != 200 || len(got) != tt.want {
				t.Fatalf("%d, %d users, want %d: %s", status, len(got), tt.want, body)
			}
		})
	}
}
