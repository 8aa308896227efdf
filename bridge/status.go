package bridge

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds the status rules in one place: how a status is derived
// from the recorded facts, when the lock has confirmed a sending, what counts
// as acceptance and which Nuki fields are evidence. The HTTP and MQTT
// surfaces ask the Service; they keep no rules of their own.

// Status is where an invitation stands.
type Status string

// The statuses, in the order they are shown.
const (
	StatusSending      Status = "sending"       // Nuki Web took the request; the lock has not confirmed it yet
	StatusPending      Status = "pending"       // the lock has it, the code is out, not yet redeemed
	StatusExpiringSoon Status = "expiring_soon" // pending, within REMINDER_BEFORE of expiry
	StatusAccepted     Status = "accepted"      // a sign of redemption or use was seen
	StatusExpired      Status = "expired"       // no sign of redemption or use within the validity
	StatusRevoked      Status = "revoked"       // the authorization is gone
	StatusFailed       Status = "failed"        // Nuki or the lock refused, or the lock did not confirm in time
)

// The statuses of a keypad code of its own; it shares sending, revoked and
// failed with invitations.
const (
	StatusScheduled Status = "scheduled" // the lock has the code; its window has not opened yet
	StatusActive    Status = "active"    // the window is open; the code has not been used yet
	StatusUsed      Status = "used"      // the code opened the lock (the activity log says so); the window is open
	StatusEnded     Status = "ended"     // the window is over
)

// Statuses lists every status of an invitation (an app key), in display
// order.
var Statuses = []Status{StatusSending, StatusPending, StatusExpiringSoon, StatusAccepted, StatusExpired, StatusRevoked, StatusFailed}

// KeypadStatuses lists every status of a keypad code, in display order.
var KeypadStatuses = []Status{StatusSending, StatusScheduled, StatusActive, StatusUsed, StatusEnded, StatusRevoked, StatusFailed}

// OpenStatuses are the statuses in which an invitation may still change by
// itself.
var OpenStatuses = []Status{StatusSending, StatusPending, StatusExpiringSoon, StatusFailed}

// Open reports whether the access may still change by itself.
func (s Status) Open() bool {
	switch s {
	case StatusSending, StatusPending, StatusExpiringSoon, StatusFailed, StatusScheduled, StatusActive, StatusUsed:
		return true
	}
	return false
}

// Resendable reports whether a re-send makes sense in this status without
// "force": never for accepted or revoked invitations.
func (s Status) Resendable() bool { return s != StatusAccepted && s != StatusRevoked }

// Signal names the fact that showed an invitation was accepted. Nuki Web has
// no invitation status, so the status says which evidence it relied on.
type Signal string

// The acceptance signals, strongest first. The lock's authId is never one:
// the lock makes it when it takes the authorization, before any guest has
// seen the code.
const (
	SignalActivityLog Signal = "activity_log" // the guest used the lock: an entry in its activity log
	SignalLockCount   Signal = "lock_count"   // lockCount rose above 0
	SignalLastActive  Signal = "last_active"  // lastActiveDate appeared
	SignalAppID       Signal = "app_id"       // appId appeared after the sending was first seen without one
)

// StatusAt derives the status from the recorded facts at time now.
// reminderBefore is how long before expiry a pending invitation counts as
// expiring soon.
func (inv *Invitation) StatusAt(now time.Time, reminderBefore time.Duration) Status {
	if inv.Keypad() {
		return inv.keypadStatusAt(now)
	}
	switch {
	case !inv.RevokedAt.IsZero():
		return StatusRevoked
	case !inv.AcceptedAt.IsZero():
		return StatusAccepted
	case !inv.FailedAt.IsZero():
		return StatusFailed
	case inv.Replacing || inv.ExpiresAt.IsZero():
		// A re-send under way, or a sending the lock has not confirmed:
		// the validity has not started, and no code is out yet.
		return StatusSending
	case !now.Before(inv.ExpiresAt):
		return StatusExpired
	case !now.Before(inv.ExpiresAt.Add(-reminderBefore)):
		return StatusExpiringSoon
	}
	return StatusPending
}

// keypadStatusAt is StatusAt for a keypad code: its window, not a validity,
// decides, and a use is recorded without closing it.
func (inv *Invitation) keypadStatusAt(now time.Time) Status {
	switch {
	case !inv.RevokedAt.IsZero():
		return StatusRevoked
	case !inv.FailedAt.IsZero():
		return StatusFailed
	case inv.Replacing || inv.ExpiresAt.IsZero():
		return StatusSending
	case !now.Before(inv.Access.Until):
		return StatusEnded
	case !inv.LastUsedAt.IsZero():
		return StatusUsed
	case now.Before(inv.Access.From):
		return StatusScheduled
	}
	return StatusActive
}

// ClosedAt returns when an accepted, expired or revoked invitation reached
// that status, and false for open ones.
func (inv *Invitation) ClosedAt() (time.Time, bool) {
	switch inv.Status {
	case StatusAccepted:
		return inv.AcceptedAt, true
	case StatusRevoked:
		return inv.RevokedAt, true
	case StatusExpired, StatusEnded:
		return inv.ExpiresAt, true
	}
	return time.Time{}, false
}

// Validity returns when the lock confirmed the current sending and when its
// code expires, as users should see them: both zero while the invitation is
// sending, since the times an earlier sending left (one a re-send replaces)
// no longer hold, and no expiry once it can no longer expire (accepted,
// revoked).
func (inv *Invitation) Validity() (confirmedAt, expiresAt time.Time) {
	switch inv.Status {
	case StatusSending:
		return time.Time{}, time.Time{}
	case StatusAccepted, StatusRevoked:
		return inv.ConfirmedAt, time.Time{}
	}
	return inv.ConfirmedAt, inv.ExpiresAt
}

// awaitingLock reports whether the invitation's current sending was taken by
// Nuki Web and the lock has not confirmed it yet (failed too, once it waited
// longer than ConfirmTimeout).
func (inv *Invitation) awaitingLock() bool {
	return inv.Send > 0 && inv.ExpiresAt.IsZero() && !inv.Replacing &&
		inv.RevokedAt.IsZero() && inv.AcceptedAt.IsZero()
}

// lockHas reports whether a listing of a shows that the lock has carried the
// authorization out: it is listed and no operation is running on it.
func lockHas(a Auth) bool { return a.OperationID == "" }

// confirm starts the validity of a sending the lock has confirmed; a keypad
// code's lasts until its window ends.
func (inv *Invitation) confirm(now time.Time, validity time.Duration) {
	inv.ConfirmedAt, inv.ExpiresAt = now, now.Add(validity)
	inv.Attempts, inv.FailedAt, inv.LastError = 0, time.Time{}, ""
	detail := "the lock has the authorization; Nuki emails the invite code"
	switch {
	case inv.Keypad():
		inv.ExpiresAt = inv.Access.Until
		detail = "the lock has the keypad code"
	case inv.Delivery == DeliveryCustom:
		detail = "the lock has the authorization"
	}
	inv.record(now, EventSent, "", detail)
}

// acceptance returns the signal in a listing of a showing that the sending
// was redeemed, or "". inv.BaseAppID is the appId seen when the sending was
// first listed: an appId counts only when it appears after that.
func acceptance(inv *Invitation, a Auth) Signal {
	switch {
	case a.LockCount > 0:
		return SignalLockCount
	case !a.LastActiveDate.IsZero() && !a.LastActiveDate.Before(inv.SentAt):
		return SignalLastActive
	case a.AppID != 0 && a.AppID != inv.BaseAppID:
		return SignalAppID
	}
	return ""
}

// usedBy reports whether a log entry is the invitation's guest on its lock,
// during the current sending.
func (inv *Invitation) usedBy(e LogEntry) bool {
	if e.SmartlockID != inv.SmartlockID || e.Date.Before(inv.SentAt) {
		return false
	}
	if e.AccountUserID != 0 {
		return e.AccountUserID == inv.AccountUserID
	}
	return e.AuthID != "" && e.AuthID == inv.AuthID
}

// evidence lists the changes of the Nuki fields that feed an invitation's
// status, between what was last seen (old; ok false when nothing was) and a.
// The history keeps them, so a user can show what their lock really did.
func evidence(old Auth, ok bool, a Auth) string {
	var parts []string
	add := func(name string, was, is string) {
		if !ok {
			parts = append(parts, name+" "+is)
		} else if was != is {
			parts = append(parts, name+" "+was+" → "+is)
		}
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return "none"
		}
		return t.UTC().Format(time.RFC3339)
	}
	text := func(s string) string {
		if s == "" {
			return "none"
		}
		return strconv.Quote(s)
	}
	add("lockCount", strconv.Itoa(old.LockCount), strconv.Itoa(a.LockCount))
	add("lastActiveDate", date(old.LastActiveDate), date(a.LastActiveDate))
	add("appId", strconv.FormatInt(old.AppID, 10), strconv.FormatInt(a.AppID, 10))
	add("authId", strconv.FormatInt(old.AuthID, 10), strconv.FormatInt(a.AuthID, 10))
	add("enabled", strconv.FormatBool(old.Enabled), strconv.FormatBool(a.Enabled))
	add("error", text(old.Error), text(a.Error))
	add("operationId", text(old.OperationID), text(a.OperationID))
	return strings.Join(parts, "; ")
}

// useDetail describes a log entry for the history and the used event.
func useDetail(e LogEntry) string {
	return fmt.Sprintf("%s by %s at %s", ActionName(e.Action), TriggerName(e.Trigger), e.Date.UTC().Format(time.RFC3339))
}

// ActionName names a log entry's action.
func ActionName(action int) string {
	switch action {
	case 1:
		return "unlock"
	case 2:
		return "lock"
	case 3:
		return "unlatch"
	case 4:
		return "lock'n'go"
	case 5:
		return "lock'n'go with unlatch"
	}
	return "action " + strconv.Itoa(action)
}

// TriggerName names a log entry's trigger.
func TriggerName(trigger int) string {
	switch trigger {
	case 0:
		return "system"
	case 1:
		return "manual"
	case 2:
		return "button"
	case 3:
		return "automatic"
	case 4:
		return "web"
	case 5:
		return "app"
	case 6:
		return "auto lock"
	case 7:
		return "accessory"
	case 255:
		return "keypad"
	}
	return "trigger " + strconv.Itoa(trigger)
}

// settle derives the current status; when it moved, it records the move in
// the history and adds the public event. It returns types, extended.
func (s *Service) settle(inv *Invitation, now time.Time, types []EventType) []EventType {
	status := inv.StatusAt(now, s.opts.ReminderBefore)
	if status == inv.Status {
		return types
	}
	prev := inv.Status
	inv.Status = status
	var ev EventType
	detail := ""
	switch status {
	case StatusAccepted:
		ev, detail = EventAccepted, "signal: "+string(inv.AcceptedSignal)
	case StatusExpired:
		ev = EventExpired
	case StatusExpiringSoon:
		ev, detail = EventExpiringSoon, "expires "+inv.ExpiresAt.Format(time.RFC3339)
	case StatusRevoked:
		ev = EventRevoked
	case StatusFailed:
		ev = EventFailed
	case StatusActive, StatusUsed:
		if prev == StatusScheduled {
			ev, detail = EventWindowOpened, "window from "+inv.Access.From.UTC().Format(time.RFC3339)
		}
	case StatusEnded:
		ev, detail = EventWindowEnded, "window until "+inv.Access.Until.UTC().Format(time.RFC3339)
	}
	if ev == "" || prev == "" && (status == StatusPending || status == StatusSending || status == StatusEnded) {
		if types == nil {
			types = []EventType{EventChanged}
		}
		return types
	}
	if ev != EventRevoked && ev != EventFailed { // recorded where they happen, with who and why
		inv.record(now, ev, "", detail)
	}
	if len(types) == 1 && types[0] == EventChanged {
		types = types[:0]
	}
	return append(types, ev)
}
