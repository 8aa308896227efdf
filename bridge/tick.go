package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// requestKeep is how long a create request's id is remembered: a repeated
// request within it returns the first result, so a retried MQTT message or
// HTTP call never creates twice; older records are dropped so they do not
// pile up.
const requestKeep = 30 * 24 * time.Hour

// Tick moves invitations across time-based statuses, sends due reminders,
// makes due automatic re-sends and retries refused ones. The scheduler calls
// it; every step is recorded before it acts, so a crash never repeats one.
// The error joins every step that failed; the rest still ran.
func (s *Service) Tick(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	var errs []error
	now := s.now()

	c := &change{}
	for _, inv := range s.state.Invitations {
		if types := s.settle(&inv, now, nil); types != nil {
			c.put(inv, now, types...)
		}
	}
	for id, r := range s.state.Requests {
		if now.Sub(r.At) > requestKeep {
			c.batch.DeleteRequests = append(c.batch.DeleteRequests, id)
		}
	}
	if err := s.commit(ctx, c); err != nil {
		return err
	}

	if err := s.followUp(ctx, followRetry); err != nil {
		errs = append(errs, err)
	}

	for _, id := range s.pick(func(inv *Invitation) bool { return !inv.RevokedAt.IsZero() && inv.AuthID != "" }) {
		if err := s.deleteLate(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}

	if err := s.remind(ctx); err != nil {
		errs = append(errs, err)
	}

	if err := s.autoResend(ctx); err != nil {
		errs = append(errs, err)
	}

	s.mailKeypadCodes(ctx)
	if err := s.cleanUpKeypadCodes(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pick returns the ids of the invitations for which keep is true, in id
// order. Call with s.op held.
func (s *Service) pick(keep func(*Invitation) bool) []InviteID {
	var ids []InviteID
	for id, inv := range s.state.Invitations {
		if keep(&inv) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// autoResendDue reports whether inv is due for an automatic re-send.
func (s *Service) autoResendDue(inv *Invitation) bool {
	if inv.Keypad() || inv.Replacing || inv.AutoResends >= s.opts.AutoResendMax || inv.AutoResentSend >= inv.Send || inv.Send == 0 ||
		!inv.RevokedAt.IsZero() {
		return false
	}
	if inv.Adopted && inv.ResendCount == 0 {
		// Found in Nuki Web, not sent from here: when it was redeemed is
		// unknown, and an old key may be in daily use.
		return false
	}
	now := s.opts.Now()
	switch inv.StatusAt(now, s.opts.ReminderBefore) {
	case StatusPending, StatusExpiringSoon:
		return s.opts.AutoResendAfter > 0 && !now.Before(inv.SentAt.Add(s.opts.AutoResendAfter))
	case StatusExpired:
		// Expired is unused too: AUTO_RESEND_AFTER longer than the validity
		// re-sends once that long has passed.
		return s.opts.AutoResendOnExpiry ||
			s.opts.AutoResendAfter > 0 && !now.Before(inv.SentAt.Add(s.opts.AutoResendAfter))
	}
	return false
}

// remind claims and sends the reminders that are due: a Home Assistant event
// for each, our email to guests whose code we deliver, and one digest to the
// admin.
func (s *Service) remind(ctx context.Context) error {
	now := s.now()
	c := &change{}
	for _, id := range s.pick(func(inv *Invitation) bool {
		return inv.Reminded < inv.Send && inv.StatusAt(now, s.opts.ReminderBefore) == StatusExpiringSoon
	}) {
		inv := s.state.Invitations[id].Clone()
		inv.Reminded = inv.Send
		inv.record(now, EventReminder, "scheduler", "expires "+inv.ExpiresAt.Format("2006-01-02 15:04 MST"))
		c.put(inv, now, EventReminder)
	}
	if len(c.batch.Invitations) == 0 {
		return nil
	}
	if err := s.commit(ctx, c); err != nil {
		return err
	}
	if s.mailer == nil {
		return nil
	}
	var errs []error
	for _, inv := range c.batch.Invitations {
		if inv.Delivery != DeliveryCustom || !inv.HasCode {
			continue
		}
		code := s.state.Codes[inv.ID]
		err := s.mailer.Send(ctx, Message{Kind: MessageReminder, To: inv.Email, Name: inv.Name,
			Language: inv.Language, Lock: inv.LockName, Code: code, ExpiresAt: inv.ExpiresAt})
		s.recordMail(ctx, inv.ID, "reminder to the guest", "", err)
		if err != nil {
			errs = append(errs, fmt.Errorf("reminder for %s: %w", inv.ID, err))
		}
	}
	if s.opts.AdminEmail != "" {
		err := s.mailer.Send(ctx, Message{Kind: MessageDigest, To: s.opts.AdminEmail, Language: "en",
			Invitations: c.batch.Invitations})
		if err != nil {
			errs = append(errs, fmt.Errorf("reminder digest to the admin: %w", err))
		} else {
			s.log.Info("reminder digest sent", "invitations", len(c.batch.Invitations))
		}
	}
	return errors.Join(errs...)
}

// mailCode emails the invite code (or keypad code) to the guest, once per
// sending: the claim is committed before the message goes out, so a crash
// may drop the email (the history then shows no outcome) but never sends it
// twice. Call with s.op held.
func (s *Service) mailCode(ctx context.Context, id InviteID, kind MessageKind) {
	s.mailCodes(ctx, []InviteID{id}, kind)
}

// mailCodes is mailCode for one code given on several locks (a keypad code
// created for them together): one message names every lock, and each
// access records it. Call with s.op held.
func (s *Service) mailCodes(ctx context.Context, ids []InviteID, kind MessageKind) {
	if s.mailer == nil {
		return
	}
	now := s.now()
	claim := &change{}
	var locks []string
	for _, id := range ids {
		inv, ok := s.state.Invitations[id]
		if !ok || !inv.HasCode || inv.Mailed >= inv.Send {
			continue
		}
		inv = inv.Clone()
		inv.Mailed = inv.Send
		claim.put(inv, now)
		locks = append(locks, inv.LockName)
	}
	if len(claim.batch.Invitations) == 0 {
		return
	}
	if err := s.commit(ctx, claim); err != nil {
		s.log.Error("cannot record the code email; not sending it", "invite", ids[0], "err", err)
		return
	}
	inv := claim.batch.Invitations[0]
	err := s.mailer.Send(ctx, Message{Kind: kind, To: inv.Email, Name: inv.Name, Language: inv.Language,
		TimeZone: inv.TimeZone, Lock: strings.Join(locks, ", "), Code: s.state.Codes[inv.ID], ExpiresAt: inv.ExpiresAt,
		Access: inv.Access})
	onSent := EventSent
	if inv.Keypad() {
		onSent = "" // Home Assistant hears of a keypad code's window, not of its e-mail
	}
	for _, sent := range claim.batch.Invitations {
		s.recordMail(ctx, sent.ID, string(kind)+" email to the guest", onSent, err)
	}
}

// recordMail notes an email's outcome in the history and, once sent, emits
// the event onSent (none if ""). Call with s.op held.
func (s *Service) recordMail(ctx context.Context, id InviteID, what string, onSent EventType, sendErr error) {
	inv := s.state.Invitations[id].Clone()
	now := s.now()
	c := &change{}
	if sendErr != nil {
		s.log.Warn("email not sent", "invite", id, "what", what, "err", sendErr)
		inv.record(now, EventEmailed, "", what+" failed: "+sendErr.Error())
		c.put(inv, now)
	} else {
		inv.record(now, EventEmailed, "", what+" sent")
		if onSent != "" {
			c.put(inv, now, onSent)
		} else {
			c.put(inv, now)
		}
	}
	if err := s.commit(ctx, c); err != nil {
		s.log.Error("cannot record an email's outcome", "invite", id, "err", err)
	}
}

// deleteLate deletes an authorization Nuki created for an invitation after it
// was revoked. Call with s.op held.
func (s *Service) deleteLate(ctx context.Context, id InviteID) error {
	inv := s.state.Invitations[id].Clone()
	err := s.nuki.DeleteAuth(ctx, inv.SmartlockID, inv.AuthID)
	switch {
	case err == nil:
		inv.Deleting = appendOnce(inv.Deleting, inv.AuthID)
	case errors.Is(err, ErrNotFound):
	case errors.Is(err, ErrBusy):
		return nil // the lock is still at an earlier change; the next tick asks again
	default:
		return fmt.Errorf("deleting the authorization of revoked %s: %w", id, err)
	}
	now := s.now()
	inv.AuthID = ""
	inv.record(now, EventChanged, "scheduler", "deleted the authorization Nuki made after the revoke")
	c := &change{}
	c.put(inv, now)
	return s.commit(ctx, c)
}

// lockSyncWait is how long after asking the lock to sync an automatic
// re-send looks at the authorization and the activity log again.
const lockSyncWait = time.Minute

// autoResend makes the automatic re-sends that are due, never one that takes
// a working key: first the lock is asked to sync; at a later tick the
// authorization and the activity log are read again, and any sign of use or
// redemption marks the invitation accepted and skips the re-send (recorded
// in the history with the evidence). Call with s.op held.
func (s *Service) autoResend(ctx context.Context) error {
	var errs []error
	for _, id := range s.pick(s.autoResendDue) {
		inv := s.state.Invitations[id].Clone()
		now := s.now()
		if inv.CheckRequestedAt.IsZero() {
			if err := s.nuki.SyncLock(ctx, inv.SmartlockID); err != nil {
				// Without a fresh look no automatic action: the next tick
				// asks again.
				s.log.Warn("cannot ask the lock to sync before an automatic re-send; postponed", "invite", id, "err", err)
				continue
			}
			inv.CheckRequestedAt = now
			inv.record(now, EventChanged, "scheduler", "asked the lock to sync before the automatic re-send")
			c := &change{}
			c.put(inv, now)
			errs = append(errs, s.commit(ctx, c))
			continue
		}
		if now.Before(inv.CheckRequestedAt.Add(lockSyncWait)) {
			continue
		}
		signal, at, detail, err := s.freshEvidence(ctx, &inv)
		if err != nil {
			errs = append(errs, fmt.Errorf("checking %s before the automatic re-send: %w", id, err))
			continue
		}
		inv.CheckRequestedAt = time.Time{}
		if signal != "" {
			inv.AutoResentSend = inv.Send
			inv.AcceptedAt, inv.AcceptedSignal = at, signal
			inv.record(now, EventSkipped, "scheduler", "automatic re-send skipped: "+detail)
			types := s.settle(&inv, now, nil)
			c := &change{}
			c.put(inv, now, types...)
			errs = append(errs, s.commit(ctx, c))
			s.log.Info("automatic re-send skipped: the guest has used or redeemed the key", "invite", id, "signal", signal)
			continue
		}
		inv.AutoResentSend, inv.AutoResends = inv.Send, inv.AutoResends+1
		inv.claimResend(now, inv.Delivery)
		inv.record(now, EventChanged, "scheduler", fmt.Sprintf("automatic re-send %d of %d: no sign of use after the lock synced", inv.AutoResends, s.opts.AutoResendMax))
		claim := &change{}
		inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
		claim.put(inv, now, EventChanged)
		if err := s.commit(ctx, claim); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.advance(ctx, id, "scheduler"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// freshEvidence reads the invitation's authorization and the activity log
// since its sending and returns the first sign of use or redemption, with its
// time and a description, or "" when there is none.
func (s *Service) freshEvidence(ctx context.Context, inv *Invitation) (Signal, time.Time, string, error) {
	now := s.now()
	a, err := s.lookUp(ctx, inv)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", time.Time{}, "", err
	case a.ID == inv.AuthID || inv.AuthID == "":
		if signal := acceptance(inv, a); signal != "" {
			at := a.LastActiveDate
			if at.IsZero() || at.After(now) {
				at = now
			}
			return signal, at, "the authorization shows " + evidence(Auth{}, false, a), nil
		}
	}
	entries, truncated, err := s.nuki.ActivityLog(ctx, inv.SentAt)
	if err != nil {
		return "", time.Time{}, "", err
	}
	if truncated {
		return "", time.Time{}, "", fmt.Errorf("the activity log since the sending is longer than one look reads; the re-send waits")
	}
	for _, e := range entries {
		if inv.usedBy(e) {
			return SignalActivityLog, e.Date, "the activity log shows " + useDetail(e), nil
		}
	}
	return "", time.Time{}, "", nil
}
