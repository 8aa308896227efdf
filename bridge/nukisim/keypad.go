package nukisim

import (
	"fmt"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Keypad is the Nuki keypad paired with a lock, shown in the smartlock's
// config as keypadPaired or keypad2Paired.
type Keypad int

// The keypads a lock can have.
const (
	NoKeypad Keypad = iota
	Keypad1         // the first Nuki Keypad: config.keypadPaired
	Keypad2         // Nuki Keypad 2.0: config.keypad2Paired
)

// Activity log states of a keypad entry the lock refused. The spec lists
// state 9 as "Rejected"; it names no state for a wrong code, so the
// simulator uses 224, the value Smartlock.State gives "Error wrong entry
// code". Both are this simulator's reading, not documented log values.
const (
	stateRejected  = 9
	stateWrongCode = 224
)

// SetKeypad pairs a keypad with a lock, or unpairs it (NoKeypad), at once
// (GET /smartlock shows it). A lock without a keypad refuses new keypad
// codes; those it has stay listed, as they live in the lock. Unknown lock:
// ErrNotFound; another value: ErrInvalid.
func (s *Sim) SetKeypad(smartlockID int64, k Keypad) error {
	if k < NoKeypad || k > Keypad2 {
		return fmt.Errorf("keypad %d: %w", k, bridge.ErrInvalid)
	}
	s.acquire()
	defer s.release()
	l := s.state.locks[smartlockID]
	if l == nil {
		return fmt.Errorf("smartlock %d: %w", smartlockID, bridge.ErrNotFound)
	}
	l.keypad, l.Keypad = k, k != NoKeypad
	return nil
}

// badKeypadCode says, in the words of a refusal, why code is not one the
// keypad can take, or returns "". Nuki's keypads have the digits 1 to 9,
// and Nuki refuses codes starting with 12.
func badKeypadCode(code string) string {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return "code " + code + " must have 6 digits"
	}
	if strings.Contains(code, "0") {
		return "code " + code + " must not contain 0, the keypad has no 0 key"
	}
	if strings.HasPrefix(code, "12") {
		return "code " + code + " must not start with 12"
	}
	return ""
}

// EnterCode records that someone typed code on the keypad of a lock and
// returns the activity log entry, which GET /smartlock/log lists at once:
// trigger 255 (keypad), source 1 (keypad code), action 1 (unlock), dated
// now. The lock checks the code against the keypad codes it has (creates not
// yet carried out are not among them, deletes not yet carried out are):
//
//   - a code it has, enabled, within its access window: state 0, the
//     authorization's string id as authId and its name; lockCount and
//     lastActiveDate follow at the lock's next sync, as for Use;
//   - a code it has, but disabled or outside its window: state 9
//     (Rejected), with authId and name;
//   - a code it does not have: state 224 (wrong entry code), no authId, no
//     name.
//
// The window is allowedFromDate (inclusive) to allowedUntilDate
// (exclusive), the weekdays of allowedWeekDays (0: every day) and, unless
// both are 0, allowedFromTime (inclusive) to allowedUntilTime (exclusive;
// 0 means midnight at the end of the day), all on the simulator's clock.
// The simulated locks keep UTC, a real lock its own time zone. A window
// whose fromTime is not before its untilTime never opens: whether Nuki's
// locks wrap past midnight is not known. Refused entries and their states
// are this simulator's reading; the real cloud may log them otherwise or
// not at all.
//
// Unknown lock: ErrNotFound; no keypad paired: ErrConflict; a code the
// keypad cannot take (not six digits from 1 to 9): ErrInvalid. These record
// nothing.
func (s *Sim) EnterCode(smartlockID int64, code string) (bridge.LogEntry, error) {
	s.acquire()
	defer s.release()
	st := &s.state
	l := st.locks[smartlockID]
	switch {
	case l == nil:
		return bridge.LogEntry{}, fmt.Errorf("smartlock %d: %w", smartlockID, bridge.ErrNotFound)
	case l.keypad == NoKeypad:
		return bridge.LogEntry{}, fmt.Errorf("no keypad is paired with smartlock %d: %w", smartlockID,
			bridge.ErrConflict)
	case len(code) != 6 || strings.Trim(code, "123456789") != "":
		return bridge.LogEntry{}, fmt.Errorf("a keypad takes 6 digits from 1 to 9: %w", bridge.ErrInvalid)
	}
	now := s.now()
	e := bridge.LogEntry{ID: st.objectID(now), SmartlockID: smartlockID, Action: bridge.ActionUnlock,
		Trigger: bridge.TriggerKeypad, Source: bridge.SourceKeypadCode, State: stateWrongCode, Date: now}
	if a := st.keypadCode(smartlockID, code); a != nil {
		e.AuthID, e.Name, e.State = a.ID, a.Name, stateRejected
		if a.Enabled && windowOpen(a.Access, now) {
			e.State = bridge.StateSuccess
			a.unsynced++
			a.lastUse = now
			st.unsynced[a.ID] = true
		}
	}
	st.log = append(st.log, logEntry{LogEntry: e, deviceType: deviceType(l.Type)})
	if s.opts.Instant && e.State == bridge.StateSuccess {
		s.syncLock(smartlockID)
	}
	return e, nil
}

// keypadCode returns the keypad code the lock has with that code, or nil.
func (st *state) keypadCode(lockID int64, code string) *authState {
	for _, id := range st.authOrder {
		if a := st.auths[id]; a.SmartlockID == lockID && a.Type == bridge.AuthTypeKeypadCode && a.Code.Reveal() == code {
			return a
		}
	}
	return nil
}

// windowOpen reports whether an access window lets a code in at t (see
// EnterCode).
func windowOpen(w bridge.Access, t time.Time) bool {
	t = t.UTC()
	if !w.From.IsZero() && t.Before(w.From) || !w.Until.IsZero() && !t.Before(w.Until) {
		return false
	}
	if w.WeekDays != 0 && w.WeekDays&weekdayBit(t.Weekday()) == 0 {
		return false
	}
	if w.FromTime == 0 && w.UntilTime == 0 {
		return true
	}
	until := w.UntilTime
	if until == 0 {
		until = 24 * 60
	}
	minute := t.Hour()*60 + t.Minute()
	return w.FromTime <= minute && minute < until
}

// weekdayBit is Nuki's bit for a weekday: 64 Monday … 2 Saturday, 1 Sunday.
func weekdayBit(d time.Weekday) int {
	return 1 << ((7 - int(d)) % 7)
}
