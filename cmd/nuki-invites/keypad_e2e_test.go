package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// keypadCodesOn returns the keypad codes the simulator lists on a lock.
func (e *e2e) keypadCodesOn(lock int64) []bridge.Auth {
	var out []bridge.Auth
	for _, a := range e.sim.Auths() {
		if a.SmartlockID == lock && a.Type == bridge.AuthTypeKeypadCode {
			out = append(out, a)
		}
	}
	return out
}

// event waits for a public event of the access published after mark.
func (e *e2e) event(mark int, id, eventType string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.mqtt.Messages()[mark:] {
			if m.Topic == e.base+"/event" && strings.Contains(string(m.Payload), `"event_type":"`+eventType+`"`) &&
				strings.Contains(string(m.Payload), `"invite_id":"`+id+`"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no %s event of %s", eventType, id)
}

// TestKeypadCodeEndToEnd gives a guest a keypad code for a window three
// days ahead, over MQTT as Home Assistant would: the lock takes it, our
// German e-mail brings it a day before the window (once, also across a
// restart), it is scheduled, active, used when typed on the keypad, ended,
// and deleted from Nuki after the grace. The code is never in a log line or
// an MQTT message.
func TestKeypadCodeEndToEnd(t *testing.T) {
	e := newE2E(t)
	door := e.locks[0]
	if err := e.sim.SetKeypad(door.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	e.syncNow() // the daemon learns that the door has a keypad

	refused := e.command("invite/create", map[string]any{"kind": "keypad", "name": "Gustav",
		"smartlock_ids": []int64{e.locks[1].ID}, "allowed_until": "2026-11-30T10:00:00+01:00"})
	if refused["ok"] != false || !strings.Contains(refused["error"].(string), "has no Nuki Keypad paired") {
		t.Errorf("a keypad code on the garage, which has no keypad: %v", refused)
	}

	at := e.mark()
	answer := e.command("invite/create", map[string]any{"kind": "keypad", "name": "Gustav", "email": "gustav@example.com",
		"language": "de", "time_zone": "Europe/Berlin", "smartlock_ids": []int64{door.ID},
		"allowed_from": "2026-11-29T10:00:00+01:00", "allowed_until": "2026-11-30T10:00:00+01:00"})
	ok(t, answer)
	id := answer["invite_ids"].([]any)[0].(string)
	e.state(at, id, "sending", func(st map[string]any) bool { return st["status"] == "sending" && st["kind"] == "keypad" })
	at = e.mark()
	e.lockWorks()
	e.state(at, id, "scheduled", func(st map[string]any) bool {
		return st["status"] == "scheduled" && st["window_start"] == "2026-11-29T09:00:00Z"
	})
	codes := e.keypadCodesOn(door.ID)
	if len(codes) != 1 || bridge.CheckKeypadCode(codes[0].Code) != nil {
		t.Fatalf("Nuki lists %d keypad codes on the door; want Gustav's", len(codes))
	}
	code := codes[0].Code.Reveal()
	time.Sleep(1500 * time.Millisecond) // a scheduler run or two
	if n := len(e.smtp.Messages()); n != 0 {
		t.Fatalf("%d e-mails three days before the window; want none yet", n)
	}

	// A day before the window: our German e-mail, with the window in
	// Berlin time and how to use the keypad.
	e.clock.Advance(48*time.Hour + time.Minute)
	mails := e.waitMails(1)
	m := mails[0]
	if m.To[0] != "gustav@example.com" || !strings.Contains(m.Subject, "Keypad") || !strings.Contains(m.Text, code) ||
		!strings.Contains(m.Text, "Sonntag, 29. November 2026, 10:00 Uhr (MEZ)") ||
		!strings.Contains(m.Text, "Montag, 30. November 2026, 10:00 Uhr (MEZ)") || !strings.Contains(m.Text, "Nuki-Taste") {
		t.Errorf("the e-mail to %v, %q:\n%s", m.To, m.Subject, m.Text)
	}
	e.stop() // right after the e-mail went out
	e.start()
	time.Sleep(3 * time.Second) // three scheduler runs
	if n := len(e.smtp.Messages()); n != 1 {
		t.Fatalf("after a restart: %d e-mails, want still 1", n)
	}

	// The window opens; the guest types the code.
	at = e.mark()
	e.clock.Advance(24 * time.Hour)
	e.state(at, id, "active", func(st map[string]any) bool { return st["status"] == "active" })
	e.event(at, id, "window_opened")
	at = e.mark()
	e.clock.Advance(time.Hour)
	if entry, err := e.sim.EnterCode(door.ID, code); err != nil || entry.State != bridge.StateSuccess {
		t.Fatalf("typing the code: %+v, %v", entry, err)
	}
	typedAt := e.clock.Now().UTC().Format(time.RFC3339)
	e.syncNow()
	e.state(at, id, "used", func(st map[string]any) bool { return st["status"] == "used" && st["last_used"] == typedAt })
	e.event(at, id, "code_used")

	// The window ends; a day later the code is deleted from Nuki.
	at = e.mark()
	e.clock.Advance(24 * time.Hour)
	e.state(at, id, "ended", func(st map[string]any) bool { return st["status"] == "ended" })
	e.event(at, id, "window_ended")
	if n := len(e.keypadCodesOn(door.ID)); n != 1 {
		t.Fatalf("the code was deleted from Nuki before the grace (%d listed)", n)
	}
	e.clock.Advance(24*time.Hour + time.Minute)
	deadline := time.Now().Add(15 * time.Second)
	for len(e.keypadCodesOn(door.ID)) > 0 && time.Now().Before(deadline) {
		e.lockWorks()
		time.Sleep(200 * time.Millisecond)
	}
	if n := len(e.keypadCodesOn(door.ID)); n != 0 {
		t.Fatalf("Nuki still lists %d keypad codes on the door after the grace", n)
	}
	inv, err := e.svc.Invitation(bridge.InviteID(id))
	if err != nil || inv.Status != bridge.StatusEnded {
		t.Errorf("after the clean-up: %s, %v; want ended", inv.Status, err)
	}

	e.stop()
	if strings.Contains(e.logs.String(), code) {
		t.Error("the keypad code is in the log")
	}
	for _, msg := range e.mqtt.Messages() {
		if strings.Contains(string(msg.Payload), code) {
			t.Errorf("the keypad code is on %s", msg.Topic)
		}
	}
	if n := len(e.smtp.Messages()); n != 1 {
		t.Errorf("%d e-mails in all, want 1", n)
	}
}

// tick runs the scheduler's work now and returns when it is done.
func (e *e2e) tick() {
	e.t.Helper()
	if err := e.svc.Tick(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// TestKeypadSettingsReachTheDaemon configures KEYPAD_EMAIL_BEFORE=0 and
// KEYPAD_CLEANUP_AFTER=off: a code for a window three hours ahead, which the
// default would e-mail at once, is e-mailed when the window opens, and it
// stays in Nuki Web two days after the window ended.
func TestKeypadSettingsReachTheDaemon(t *testing.T) {
	e := newE2E(t, "KEYPAD_EMAIL_BEFORE=0", "KEYPAD_CLEANUP_AFTER=off")
	door := e.locks[0]
	if err := e.sim.SetKeypad(door.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	e.syncNow()

	at := e.mark()
	from := e.clock.Now().Add(3 * time.Hour)
	answer := e.command("invite/create", map[string]any{"kind": "keypad", "name": "Gustav", "email": "gustav@example.com",
		"smartlock_ids": []int64{door.ID}, "allowed_from": from.Format(time.RFC3339),
		"allowed_until": from.Add(24 * time.Hour).Format(time.RFC3339)})
	ok(t, answer)
	id := answer["invite_ids"].([]any)[0].(string)
	e.lockWorks()
	e.state(at, id, "scheduled", func(st map[string]any) bool { return st["status"] == "scheduled" })

	e.clock.Advance(from.Sub(e.clock.Now()) - time.Minute)
	e.tick()
	if n := len(e.smtp.Messages()); n != 0 {
		t.Fatalf("%d e-mails a minute before the window; want none until it opens", n)
	}
	e.clock.Advance(time.Minute)
	e.tick()
	if mails := e.smtp.Messages(); len(mails) != 1 || mails[0].To[0] != "gustav@example.com" {
		t.Fatalf("when the window opened: %d e-mails, want Gustav's code", len(mails))
	}

	at = e.mark()
	e.clock.Advance(24 * time.Hour)
	e.state(at, id, "ended", func(st map[string]any) bool { return st["status"] == "ended" })
	e.clock.Advance(48 * time.Hour)
	e.tick()
	e.lockWorks()
	if n := len(e.keypadCodesOn(door.ID)); n != 1 {
		t.Errorf("Nuki lists %d keypad codes on the door two days after the window; want Gustav's kept", n)
	}
}
