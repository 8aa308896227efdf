package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mail/mailtest"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// e2e is the whole daemon, wired as in production, against the Nuki Web
// simulator, a real MQTT broker and an SMTP server in the test process.
type e2e struct {
	t     *testing.T
	clock *bridgetest.Clock
	sim   *nukisim.Sim
	smtp  *mailtest.Server
	mqtt  *mqtttest.Client
	base  string
	env   map[string]string
	logs  *bridgetest.Logs
	stop  func()
	locks []bridge.Lock
	svc   *bridge.Service // the running daemon's
}

const (
	e2eToken    = "e2e-nuki-token-7f3a"
	e2eSMTPPass = "e2e-smtp-password-91c2"
)

// newE2E starts the daemon; settings ("NAME=value") add to or replace the
// test's environment.
func newE2E(t *testing.T, settings ...string) *e2e {
	t.Helper()
	e := &e2e{t: t, clock: bridgetest.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)), logs: &bridgetest.Logs{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	secret := "e2e-webhook-secret"
	e.sim = nukisim.New(nukisim.Options{Token: e2eToken, Now: e.clock.Now,
		WebhookURL: "http://" + httpAddr + "/webhook/nuki", WebhookSecret: bridge.Secret(secret)})
	e.locks = []bridge.Lock{e.sim.AddLock(bridge.Lock{Name: "Front door", Type: 4}), e.sim.AddLock(bridge.Lock{Name: "Garage", Type: 4})}
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	e.smtp = mailtest.Start(t, mailtest.WithAuth("mailer", e2eSMTPPass))

	broker := mqtttest.Broker(t)
	e.base = mqtttest.Unique("e2e")
	prefix := mqtttest.Unique("e2eha")
	e.mqtt = mqtttest.Connect(t, broker, e.base+"/#")
	e.env = map[string]string{
		"NUKI_API_URL": srv.URL, "NUKI_API_TOKEN": e2eToken, "NUKI_ADVANCED_API": "true",
		"NUKI_WEBHOOK_SECRET": secret, "DB_PATH": filepath.Join(t.TempDir(), "nuki-invites.db"),
		"EXPOSE_CODES": "true", "TIME_ZONE": "Europe/Berlin",
		"SMTP_URL": e.smtp.URL(), "SMTP_FROM": "Holiday Flat <flat@example.com>",
		"MQTT_URL": broker, "MQTT_BASE_TOPIC": e.base, "MQTT_DISCOVERY_PREFIX": prefix, "MQTT_CLIENT_ID": e.base,
		"HTTP_ADDR": httpAddr, "LOG_LEVEL": "debug",
	}
	for _, s := range settings {
		name, value, _ := strings.Cut(s, "=")
		e.env[name] = value
	}
	e.start()
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
		for _, topics := range [][]string{{e.base + "/#"}, {prefix + "/#"}} {
			for topic := range mqtttest.Retained(t, broker, topics...) {
				e.mqtt.Publish(topic, nil, true)
			}
		}
	})
	return e
}

// start runs the daemon until stop is called.
func (e *e2e) start() {
	e.t.Helper()
	cfg, err := config.Parse(e.env, true)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.ReminderSchedule = "@every 1s" // faster than the configuration allows, for the test's clock
	logger := e.logs.Logger()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, logger, wiring{now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = d.svc
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("daemon: %v", err)
		}
		e.stop = nil
	}
	e.mqtt.WaitFor(15*time.Second, "the daemon online", func(m mqtttest.Message) bool {
		return m.Topic == e.base+"/availability" && string(m.Payload) == "online"
	})
}

var requestSeq int

// command publishes a command and returns its answer from <base>/result.
func (e *e2e) command(topic string, payload map[string]any) map[string]any {
	e.t.Helper()
	requestSeq++
	id := fmt.Sprintf("req-%d", requestSeq)
	if payload == nil {
		payload = map[string]any{}
	}
	payload["request_id"] = id
	body, _ := json.Marshal(payload)
	e.mqtt.Publish(e.base+"/"+topic, body, false)
	m := e.mqtt.WaitFor(15*time.Second, "the answer to "+id, func(m mqtttest.Message) bool {
		return m.Topic == e.base+"/result" && strings.Contains(string(m.Payload), `"request_id":"`+id+`"`)
	})
	var answer map[string]any
	if err := json.Unmarshal(m.Payload, &answer); err != nil {
		e.t.Fatal(err)
	}
	return answer
}

// mark returns how many messages arrived so far, for state.
func (e *e2e) mark() int { return len(e.mqtt.Messages()) }

// state waits for a state of the invitation published after mark that
// matches, and returns it.
func (e *e2e) state(mark int, id string, what string, match func(map[string]any) bool) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.mqtt.Messages()[mark:] {
			var st map[string]any
			if m.Topic == e.base+"/invite/"+id+"/state" && json.Unmarshal(m.Payload, &st) == nil && match(st) {
				return st
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no state of %s was %s", id, what)
	return nil
}

// syncNow syncs and returns when the sync is done. (The HTTP API and the
// MQTT command only ask for one.)
func (e *e2e) syncNow() {
	e.t.Helper()
	if err := e.svc.Sync(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// lockWorks lets the simulated locks carry out what Nuki Web holds for
// them, then syncs.
func (e *e2e) lockWorks() {
	e.t.Helper()
	e.clock.Advance(5 * time.Second)
	e.sim.Settle()
	e.syncNow()
}

// whileClockRuns advances the clock by step every 300 ms of real time until
// the returned func is called: for the daemon's own loops to see time pass.
func (e *e2e) whileClockRuns(step time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.clock.Advance(step)
				e.sim.Settle()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (e *e2e) waitMails(n int) []mailtest.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msgs, err := e.smtp.Wait(ctx, n)
	if err != nil {
		e.t.Fatalf("waiting for %d emails: %v (have %d)", n, err, len(e.smtp.Messages()))
	}
	return msgs
}

func ok(t *testing.T, answer map[string]any) {
	t.Helper()
	if answer["ok"] != true {
		t.Fatalf("command refused: %v", answer)
	}
}

var digits = regexp.MustCompile(`[0-9]`)

// TestEndToEnd drives the daemon as Home Assistant would, over MQTT: custom
// and Nuki deliveries, the code, re-sends, reminders across a restart, and a
// lock that is off line for a while. It then checks that no secret reached a
// log line or a retained message.
func TestEndToEnd(t *testing.T) {
	e := newE2E(t)

	// Custom delivery: no Nuki email; the code arrives by webhook and goes
	// out in our email, with the right expiry.
	answer := e.command("invite/create", map[string]any{"email": "carla@example.com", "name": "Carla", "language": "de",
		"smartlock_ids": []int64{e.locks[0].ID}, "delivery": "custom"})
	ok(t, answer)
	carla := answer["invite_ids"].([]any)[0].(string)
	e.clock.Advance(5 * time.Second) // the lock takes it; Nuki's webhook brings the code
	e.sim.Settle()
	mails := e.waitMails(1)
	if len(e.sim.Emails()) != 0 {
		t.Errorf("custom delivery made Nuki send %d emails", len(e.sim.Emails()))
	}
	ok(t, e.command("invite/"+carla+"/code/get", nil))
	codeMsg := e.mqtt.WaitFor(10*time.Second, "the code", func(m mqtttest.Message) bool { return m.Topic == e.base+"/invite/"+carla+"/code" })
	if codeMsg.Retained {
		t.Errorf("the code was published retained")
	}
	var code struct{ Code string }
	if err := json.Unmarshal(codeMsg.Payload, &code); err != nil || len(code.Code) != 9 {
		t.Fatalf("code message %s", codeMsg.Payload)
	}
	text := strings.Join(digits.FindAllString(mails[0].Text, -1), "")
	if mails[0].To[0] != "carla@example.com" || !strings.Contains(text, code.Code) {
		t.Errorf("the guest's email (to %v) lacks the code:\n%s", mails[0].To, mails[0].Text)
	}
	expires := e.clock.Now().Add(48 * time.Hour).In(time.FixedZone("MEZ", 3600))
	if want := expires.Format("15:04"); !strings.Contains(mails[0].Text, want) || !strings.Contains(mails[0].Text, "28. November 2026") {
		t.Errorf("the German email does not show the expiry 28. November 2026 %s (Berlin):\n%s", want, mails[0].Text)
	}
	e.mqtt.WaitFor(10*time.Second, "code_ready", func(m mqtttest.Message) bool {
		return m.Topic == e.base+"/event" && strings.Contains(string(m.Payload), `"event_type":"code_ready"`)
	})

	// Nuki delivery: sending until the lock has it, then one Nuki email,
	// none of ours.
	at := e.mark()
	answer = e.command("invite/create", map[string]any{"email": "dan@example.com", "name": "Dan",
		"smartlock_ids": []int64{e.locks[1].ID}})
	ok(t, answer)
	dan := answer["invite_ids"].([]any)[0].(string)
	e.state(at, dan, "sending", func(st map[string]any) bool { return st["status"] == "sending" })
	at = e.mark()
	e.lockWorks()
	e.state(at, dan, "pending", func(st map[string]any) bool { return st["status"] == "pending" })
	if n := len(e.sim.Emails()); n != 1 {
		t.Errorf("nuki delivery: %d Nuki emails, want 1", n)
	}

	// Re-send: the old key is deleted first, then one more Nuki email, same
	// id, one re-send; a double press does nothing but say so.
	at = e.mark()
	ok(t, e.command("invite/"+dan+"/resend", nil))
	e.lockWorks() // the lock deletes the old one; the new one is asked for
	e.lockWorks() // the lock takes the new one
	e.state(at, dan, "re-sent once", func(st map[string]any) bool {
		return st["resend_count"] == 1.0 && st["status"] == "pending"
	})
	again := e.command("invite/"+dan+"/resend", nil)
	if again["ok"] != false || !strings.Contains(again["error"].(string), "RESEND_COOLDOWN") {
		t.Errorf("double press: %v", again)
	}
	if n := len(e.sim.Emails()); n != 2 {
		t.Errorf("after a re-send and a double press: %d Nuki emails, want 2", n)
	}

	// 37 hours on, both are expiring soon: one reminder each, and our
	// reminder email to Carla, whose code we deliver. A restart in between
	// sends nothing again.
	at = e.mark()
	e.clock.Advance(37 * time.Hour)
	e.state(at, carla, "expiring soon", func(st map[string]any) bool { return st["status"] == "expiring_soon" })
	mails = e.waitMails(2)
	if !strings.Contains(strings.Join(digits.FindAllString(mails[1].Text, -1), ""), code.Code) {
		t.Errorf("the reminder lacks the code:\n%s", mails[1].Text)
	}
	e.stop()
	e.start()
	time.Sleep(3 * time.Second) // three scheduler runs
	if n := len(e.smtp.Messages()); n != 2 {
		t.Errorf("after a restart: %d emails, want still 2", n)
	}
	reminders := 0
	for _, m := range e.mqtt.On(e.base + "/event") {
		if strings.Contains(string(m.Payload), `"event_type":"reminder"`) {
			reminders++
		}
	}
	if reminders != 2 {
		t.Errorf("%d reminder events, want one for each invitation", reminders)
	}

	// The garage goes off line: Nuki takes the re-send, the lock never
	// carries it out, and after CONFIRM_TIMEOUT the invitation says so;
	// back on line, the scheduler's retry recovers it.
	if err := e.sim.SetOffline(e.locks[1].ID, true); err != nil {
		t.Fatal(err)
	}
	at = e.mark()
	ok(t, e.command("invite/"+dan+"/resend", nil))
	e.state(at, dan, "sending", func(st map[string]any) bool { return st["status"] == "sending" })
	e.clock.Advance(61 * time.Minute)
	e.state(at, dan, "failed", func(st map[string]any) bool {
		return st["status"] == "failed" && strings.Contains(fmt.Sprint(st["last_error"]), "has not deleted")
	})
	at = e.mark()
	if err := e.sim.SetOffline(e.locks[1].ID, false); err != nil {
		t.Fatal(err)
	}
	stopClock := e.whileClockRuns(3 * time.Second)
	st := e.state(at, dan, "recovered", func(st map[string]any) bool { return st["status"] == "pending" })
	stopClock()
	if st["resend_count"] != 2.0 || st["last_error"] != "" {
		t.Errorf("after the retry: %v", st)
	}
	if n := len(e.sim.Emails()); n != 3 {
		t.Errorf("%d Nuki emails, want 3 (create, re-send, retried re-send)", n)
	}

	// A hot backup while the daemon holds the database.
	t.Setenv("DB_PATH", e.env["DB_PATH"])
	t.Setenv("HTTP_ADDR", e.env["HTTP_ADDR"])
	dest := filepath.Join(t.TempDir(), "hot-backup.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"backup", dest}, &out, &errOut); err != nil {
		t.Fatalf("backup while running: %v", err)
	}
	copyStore, err := bolt.Open(dest, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := copyStore.Load(context.Background()); err != nil || len(st.Invitations) != 2 {
		t.Errorf("the hot backup holds %d invitations (err %v), want 2", len(st.Invitations), err)
	}
	copyStore.Close()

	// No secret anywhere it must not be.
	e.stop()
	secrets := map[string]string{"invite code": code.Code, "Nuki token": e2eToken, "SMTP password": e2eSMTPPass}
	for what, secret := range secrets {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the %s is in the log", what)
		}
	}
	for _, m := range e.mqtt.Messages() {
		for what, secret := range secrets {
			if strings.Contains(string(m.Payload), secret) && m.Topic != e.base+"/invite/"+carla+"/code" {
				t.Errorf("the %s is on %s", what, m.Topic)
			}
		}
	}
}
