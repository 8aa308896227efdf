package mqtt_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// TestResendOfAcceptedAgainstTheCore re-sends an accepted invitation over
// MQTT to the real Service: refused in the Service's own words without
// force, carried out with it.
func TestResendOfAcceptedAgainstTheCore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The lock's writes and syncs happen at once: this test is about the
	// answers, not about waiting for the lock.
	sim := nukisim.New(nukisim.Options{Token: "sim-token", Instant: true})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	lock := sim.AddLock(bridge.Lock{Name: "Front door"})
	user, err := sim.AddUser(bridge.User{Name: "Rose", Email: "rose@example.com", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddAuth(bridge.Auth{SmartlockID: lock.ID, AccountUserID: user.ID, Type: bridge.AuthTypeApp, Name: "Rose", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Use(lock.ID, user.ID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(t.TempDir(), "nuki-invites.db"), bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := bridge.NewService(store, nukiweb.New(simSrv.URL, "sim-token", nukiweb.Options{}), nil, bridge.Options{})
	if err := svc.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	id := bridge.MakeInviteID(lock.ID, user.ID)
	if inv, err := svc.Invitation(id); err != nil || inv.Status != bridge.StatusAccepted {
		t.Fatalf("Rose's invitation: %s, %v; want accepted", inv.Status, err)
	}

	url := mqtttest.Broker(t)
	base := mqtttest.Unique("nit")
	b := mqtt.New(svc, store, mqtt.Options{URL: url, ClientID: mqtttest.Unique("bridge"), BaseTopic: base,
		DiscoveryPrefix: mqtttest.Unique("ha"), BirthDelay: func() time.Duration { return 10 * time.Millisecond }})
	defer svc.Subscribe(b)()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	w := mqtttest.Connect(t, url, base+"/result", base+"/availability")
	w.WaitPayload(wait, base+"/availability", "online")

	resend := func(requestID, payload string) map[string]any {
		t.Helper()
		w.Publish(base+"/invite/"+string(id)+"/resend", []byte(payload), false)
		return decode(t, w.WaitFor(wait, "result "+requestID, func(m mqtttest.Message) bool {
			return m.Topic == base+"/result" && strings.Contains(string(m.Payload), `"request_id":"`+requestID+`"`)
		}).Payload)
	}
	refused := resend("plain", `{"request_id":"plain"}`)
	msg, _ := refused["error"].(string)
	if refused["ok"] != false || !strings.HasPrefix(msg, bridge.ErrConflict.Error()+": Rose accepted this invitation") ||
		!strings.Contains(msg, `"force": true`) {
		t.Errorf("re-send of an accepted invitation: %v; want it refused in the Service's words", refused)
	}
	if forced := resend("forced", `{"request_id":"forced","force":true}`); forced["ok"] != true {
		t.Errorf("forced re-send: %v, want ok", forced)
	}
	inv, err := svc.Invitation(id)
	if err != nil {
		t.Fatal(err)
	}
	if inv.ResendCount != 1 || inv.Status == bridge.StatusAccepted {
		t.Errorf("after the forced re-send: %s with %d re-sends, want a new sending", inv.Status, inv.ResendCount)
	}
}
