package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxAttempts is how often the scheduler asks Nuki Web again for an
// authorization it refused, or that the lock did not confirm, before it gives
// up and leaves the invitation failed for the admin.
const maxAttempts = 10

// followUpBatch bounds the invitations one follow-up looks up (one request
// each); the rest wait for the next round or the next sync.
const followUpBatch = 20

// claimSending turns the invitation into a new sending, before Nuki Web is
// asked: committed first, a crash leaves a sending the lock never confirms,
// which times out and is retried, never one made twice.
func (inv *Invitation) claimSending(now time.Time) {
	inv.Send++
	inv.SentAt, inv.ExpiresAt, inv.ConfirmedAt = now, time.Time{}, time.Time{}
	inv.AcceptedAt, inv.AcceptedSignal, inv.FailedAt, inv.LastError = time.Time{}, "", time.Time{}, ""
	inv.Replacing, inv.PrevAuthID, inv.DeleteRequestedAt = false, "", time.Time{}
	inv.AuthID, inv.RequestID, inv.BaseAppID = "", "", 0
	inv.HasCode = inv.HasCode && inv.Keypad() // a keypad code is ours: it outlives a refused sending
}

// unclaimSending takes back a sending Nuki Web refused: the create is owed
// again and the scheduler retries it.
func (inv *Invitation) unclaimSending(now time.Time, reason string) {
	if inv.Send > 0 {
		inv.Send--
	}
	inv.Replacing = true
	inv.Attempts++
	inv.FailedAt, inv.LastError = now, reason
}

// claimResend starts a re-send with delivery d: the current authorization
// becomes the one to delete, and the status says sending until the lock
// confirms the new one.
func (inv *Invitation) claimResend(now time.Time, d Delivery) {
	if inv.AuthID != "" {
		inv.PrevAuthID = inv.AuthID
	}
	inv.AuthID, inv.Replacing, inv.DeleteRequestedAt = "", true, time.Time{}
	inv.Delivery, inv.LastResendAt, inv.CheckRequestedAt = d, now, time.Time{}
	inv.FailedAt, inv.LastError, inv.Attempts = time.Time{}, "", 0
}

// deleteWaitSince is when a re-send began to wait for the old authorization
// to go: its delete, or, while an earlier change keeps the lock busy and the
// delete could not be asked for yet, the re-send itself.
func (inv *Invitation) deleteWaitSince() time.Time {
	if !inv.DeleteRequestedAt.IsZero() {
		return inv.DeleteRequestedAt
	}
	return inv.LastResendAt
}

// waitingFor says what a sending or re-send waits for, for errors and pages.
func (inv *Invitation) waitingFor() string {
	switch {
	case inv.PrevAuthID != "" && !inv.DeleteRequestedAt.IsZero():
		return "waiting for the lock to delete the old authorization"
	case inv.PrevAuthID != "":
		return "the old authorization is to be deleted"
	case inv.Replacing:
		return "the new authorization is to be created"
	}
	return "waiting for the lock to confirm the new authorization"
}

// send asks Nuki Web for a new authorization for each invitation (all of one
// user, each claimed as a sending) and returns one error per invitation. A
// create refused because one is already there or on its way for this guest
// and lock counts as made: Nuki holds one per guest and lock, and it is this
// sending's (made before a crash, or in Nuki Web). Call with s.op held; it
// does not commit.
func (s *Service) send(ctx context.Context, invs []Invitation, d Delivery) []error {
	errs := make([]error, len(invs))
	if len(invs) == 0 {
		return errs
	}
	if invs[0].Keypad() {
		return s.sendKeypad(ctx, invs)
	}
	grant := Grant{AccountUserID: invs[0].AccountUserID, Name: authName(invs[0].Name),
		RemoteAllowed: invs[0].RemoteAllowed, Access: invs[0].Access}
	if d == DeliveryCustom {
		locks := make([]int64, len(invs))
		for i, inv := range invs {
			locks[i] = inv.SmartlockID
		}
		requestID, err := s.nuki.CreateAdvancedAuth(ctx, locks, grant)
		for i := range invs {
			errs[i] = err
			invs[i].RequestID = requestID
		}
		return errs
	}
	for i := range invs {
		inv := &invs[i]
		errs[i] = s.nuki.CreateAuth(ctx, inv.SmartlockID, grant)
		if !errors.Is(errs[i], ErrConflict) {
			continue
		}
		a, err := s.nuki.FindAuth(ctx, inv.SmartlockID, inv.AccountUserID)
		switch {
		case errors.Is(err, ErrNotFound):
			errs[i] = nil // a create for this guest and lock waits for the lock
		case err == nil && !slices.Contains(inv.Deleting, a.ID):
			errs[i], inv.AuthID, inv.BaseAppID = nil, a.ID, a.AppID
		}
	}
	return errs
}

// commitSent records the outcome of send for claimed sendings: taken by Nuki
// Web (sending until the lock confirms) or refused (failed; the scheduler
// retries). resend marks the creates of a re-send. Call with s.op held.
func (s *Service) commitSent(ctx context.Context, invs []Invitation, errs []error, resend bool) error {
	now := s.now()
	c := &change{}
	for i := range invs {
		inv := &invs[i]
		var types []EventType
		if err := errs[i]; err != nil {
			inv.unclaimSending(now, nukiReason(err))
			inv.record(now, EventFailed, "", "Nuki Web refused the authorization: "+inv.LastError)
		} else {
			detail := "Nuki Web took the request; waiting for the lock to confirm it"
			if inv.Delivery == DeliveryCustom && !inv.Keypad() {
				detail = "Nuki Web took the request; waiting for the lock and the invite code"
			}
			inv.record(now, EventChanged, "", detail)
			types = []EventType{EventChanged}
			if resend {
				inv.ResendCount++
				inv.ResendUnconfirmed = inv.Delivery == DeliveryCustom
				inv.record(now, EventResent, "", fmt.Sprintf("re-send %d, delivery %s", inv.ResendCount, inv.Delivery))
				types = []EventType{EventResent}
				c.batch.DeleteCodes = append(c.batch.DeleteCodes, inv.ID) // the old code died with the old authorization
			}
		}
		types = s.settle(inv, now, types)
		c.put(*inv, now, types...)
	}
	return s.commit(ctx, c)
}

// nukiReason is the message kept as an invitation's last error.
func nukiReason(err error) string {
	var nerr *NukiError
	if errors.As(err, &nerr) && nerr.Description != "" {
		return nerr.Description
	}
	return err.Error()
}

// advance carries a re-send, or a create owed after a refusal, as far as it
// can without waiting for the lock: the old authorization is deleted and the
// new one created only once Nuki Web no longer lists the old one. It returns
// the invitation as it stands. Call with s.op held and the re-send claimed.
func (s *Service) advance(ctx context.Context, id InviteID, actor string) (Invitation, error) {
	inv := s.state.Invitations[id].Clone()
	now := s.now()
	if inv.PrevAuthID != "" {
		before := len(inv.History)
		gone, err := s.retire(ctx, &inv, now)
		if err != nil {
			return Invitation{}, s.failSending(ctx, inv, now, "Nuki Web refused to delete the old authorization: ", err)
		}
		if !gone {
			if len(inv.History) != before {
				c := &change{}
				c.put(inv, now)
				if err := s.commit(ctx, c); err != nil {
					return Invitation{}, err
				}
			}
			return s.Invitation(id)
		}
		inv.record(now, EventChanged, "", "Nuki Web no longer lists the old authorization")
		inv.PrevAuthID, inv.DeleteRequestedAt = "", time.Time{}
	}
	resend := inv.Send > 0
	inv.claimSending(now)
	claim := &change{}
	claim.put(inv, now)
	if err := s.commit(ctx, claim); err != nil {
		return Invitation{}, err
	}
	invs := []Invitation{inv}
	errs := s.send(ctx, invs, inv.Delivery)
	if err := s.commitSent(ctx, invs, errs, resend); err != nil {
		return Invitation{}, err
	}
	if errs[0] != nil {
		return Invitation{}, fmt.Errorf("sending %s: %w (it will be retried)", id, errs[0])
	}
	if resend {
		s.log.Info("invitation re-sent", "invite", id, "delivery", inv.Delivery, "actor", actor)
	}
	return s.Invitation(id)
}

// retire deletes the authorization a re-send replaces and reports whether
// Nuki Web no longer lists it. While the lock carries the delete out it
// answers false: the caller waits. A delete refused because an earlier
// change still runs waits too.
func (s *Service) retire(ctx context.Context, inv *Invitation, now time.Time) (gone bool, err error) {
	listed := func() (bool, *Auth, error) {
		a, err := s.lookUp(ctx, inv)
		switch {
		case errors.Is(err, ErrNotFound):
			return false, nil, nil
		case err != nil:
			return false, nil, err
		}
		// Another authorization of the guest on this lock (made in Nuki Web,
		// or created here before a crash) means the old one is gone.
		return a.ID == inv.PrevAuthID, &a, nil
	}
	still, a, err := listed()
	if err != nil || !still {
		return !still && err == nil, err
	}
	if a.OperationID != "" || !inv.DeleteRequestedAt.IsZero() {
		return false, nil // the lock is at it, or has yet to start (bounded by ConfirmTimeout)
	}
	err = s.nuki.DeleteAuth(ctx, inv.SmartlockID, inv.PrevAuthID)
	switch {
	case errors.Is(err, ErrNotFound):
		return true, nil
	case errors.Is(err, ErrBusy):
		return false, nil
	case err != nil:
		return false, err
	}
	inv.DeleteRequestedAt = now
	inv.Deleting = appendOnce(inv.Deleting, inv.PrevAuthID)
	inv.record(now, EventChanged, "", "asked Nuki Web to delete the old authorization; the new one follows once the lock has deleted it")
	if still, _, err := listed(); err == nil && !still {
		return true, nil
	}
	return false, nil
}

// failSending records a refused step of a sending or re-send; the scheduler
// retries it. It returns the error for the caller.
func (s *Service) failSending(ctx context.Context, inv Invitation, now time.Time, what string, cause error) error {
	inv.Attempts++
	if inv.FailedAt.IsZero() {
		inv.FailedAt = now
	}
	inv.LastError = nukiReason(cause)
	inv.record(now, EventFailed, "", what+inv.LastError)
	types := s.settle(&inv, now, nil)
	c := &change{}
	c.put(inv, now, types...)
	if err := s.commit(ctx, c); err != nil {
		return err
	}
	return fmt.Errorf("sending %s: %w (it will be retried)", inv.ID, cause)
}

// FollowUp looks up the invitations that wait for their lock, one request
// each and at most 20 a round: a sending the lock has confirmed becomes
// pending, a re-send whose old authorization is gone creates the new one,
// and a wait longer than ConfirmTimeout fails with the reason. The Run loop
// calls it every FollowUp; it makes no request when nothing waits.
func (s *Service) FollowUp(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	err := s.followUp(ctx, followLookUp)
	s.mailKeypadCodes(ctx)
	return err
}

// How followUp goes about it.
type followMode int

const (
	followLookUp   followMode = iota // look each waiting invitation up
	followAfterMap                   // right after a sync: use what it listed
	followRetry                      // the scheduler: also retry failed ones
)

// followUp does the work of FollowUp. Call with s.op held.
func (s *Service) followUp(ctx context.Context, mode followMode) error {
	now := s.now()
	ids := s.pick(func(inv *Invitation) bool {
		if !inv.RevokedAt.IsZero() || inv.Keypad() && !inv.FailedAt.IsZero() && !now.Before(inv.Access.Until) {
			return false // revoked, or a failed keypad code whose window is over: no retry
		}
		if inv.awaitingLock() {
			// A failed one is asked for again by the scheduler only, and
			// not once its attempts are used up.
			return inv.FailedAt.IsZero() || mode == followRetry && inv.Attempts < maxAttempts
		}
		return inv.Replacing && (inv.FailedAt.IsZero() || mode == followRetry && inv.Attempts < maxAttempts)
	})
	var errs []error
	looked := 0
	for _, id := range ids {
		inv := s.state.Invitations[id]
		if mode == followLookUp && looked >= followUpBatch {
			break
		}
		switch {
		case inv.awaitingLock():
			if mode == followAfterMap {
				errs = append(errs, s.confirmTimeout(ctx, id, now))
				continue
			}
			looked++
			errs = append(errs, s.checkConfirmed(ctx, id, mode == followRetry))
		case inv.PrevAuthID != "" && inv.FailedAt.IsZero() && !now.Before(inv.deleteWaitSince().Add(s.opts.ConfirmTimeout)):
			inv = inv.Clone()
			inv.DeleteRequestedAt = time.Time{} // the retry asks again
			errs = append(errs, s.failSending(ctx, inv, now, "", fmt.Errorf(
				"the lock has not deleted the old authorization within %s; it may be offline", s.opts.ConfirmTimeout)))
		default:
			if _, listed := s.state.Auths[inv.PrevAuthID]; mode == followAfterMap && listed {
				continue
			}
			looked++
			if _, err := s.advance(ctx, id, "scheduler"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// confirmTimeout fails a sending the lock has not confirmed within
// ConfirmTimeout. Call with s.op held.
func (s *Service) confirmTimeout(ctx context.Context, id InviteID, now time.Time) error {
	inv := s.state.Invitations[id]
	if !inv.FailedAt.IsZero() || now.Before(inv.SentAt.Add(s.opts.ConfirmTimeout)) {
		return nil
	}
	inv = inv.Clone()
	inv.FailedAt = now
	inv.LastError = fmt.Sprintf("the lock has not confirmed the authorization within %s; it may be offline", s.opts.ConfirmTimeout)
	inv.record(now, EventFailed, "", inv.LastError)
	types := s.settle(&inv, now, nil)
	c := &change{}
	c.put(inv, now, types...)
	return s.commit(ctx, c)
}

// checkConfirmed looks a waiting sending up in Nuki Web: confirmed by the
// lock, it becomes pending; past ConfirmTimeout, failed. With retry, a failed
// one is asked for again: a create Nuki still holds for the lock is answered
// as a conflict and changes nothing, a lost one is made again. Call with
// s.op held.
func (s *Service) checkConfirmed(ctx context.Context, id InviteID, retry bool) error {
	inv := s.state.Invitations[id].Clone()
	now := s.now()
	a, err := s.lookUp(ctx, &inv)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("looking up %s: %w", id, err)
	}
	if err == nil && !slices.Contains(inv.Deleting, a.ID) && a.ID != inv.PrevAuthID && lockHas(a) && a.Error == "" {
		if inv.AuthID == "" {
			inv.AuthID, inv.BaseAppID = a.ID, a.AppID
		}
		inv.confirm(now, s.opts.Validity)
		types := s.settle(&inv, now, []EventType{EventSent})
		c := &change{}
		c.put(inv, now, types...)
		return s.commit(ctx, c)
	}
	if inv.FailedAt.IsZero() {
		return s.confirmTimeout(ctx, id, now)
	}
	if !retry || inv.Attempts >= maxAttempts ||
		now.Before(inv.FailedAt.Add(time.Duration(inv.Attempts)*s.opts.ConfirmTimeout)) {
		return nil // at most once per CONFIRM_TIMEOUT
	}
	inv.Attempts++
	invs := []Invitation{inv}
	errs := s.send(ctx, invs, inv.Delivery)
	inv = invs[0]
	detail := "asked Nuki Web again; still waiting for the lock"
	if errs[0] != nil {
		detail = "asked Nuki Web again, refused: " + nukiReason(errs[0])
	}
	inv.record(now, EventChanged, "scheduler", detail)
	c := &change{}
	c.put(inv, now)
	return s.commit(ctx, c)
}
