package bridge

import (
	"fmt"
	"strings"
)

// CheckCreate makes every check Create makes before it asks Nuki Web, and
// changes nothing: the request's own checks (see CreateRequest.Check), the
// locks the account has, custom delivery's need of the Advanced API, and no
// invitation of the same e-mail address to one of the locks that is not
// revoked. A request id Create has seen passes, as Create answers it with
// what it made then. The error wraps ErrInvalid, ErrDisabled or ErrConflict
// with the words Create would use; nil means Create would go on to Nuki Web,
// which may still refuse. It reads the state as it stands: a create that
// runs meanwhile may make a later Create refuse what CheckCreate passed.
func (s *Service) CheckCreate(r CreateRequest) error {
	if err := s.validate(&r); err != nil {
		return err
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r.RequestID != "" {
		if _, ok := s.state.Requests[r.RequestID]; ok {
			return nil
		}
	}
	if r.Kind == KindKeypad {
		return nil // a keypad code is no account user's: it conflicts with no invitation
	}
	// Nuki Web finds account users by e-mail address regardless of case;
	// Create's conflict is an invitation of that user to the lock.
	users := map[int64]bool{}
	for _, u := range s.state.Users {
		if strings.EqualFold(u.Email, r.Email) {
			users[u.ID] = true
		}
	}
	for _, inv := range s.state.Invitations {
		if strings.EqualFold(inv.Email, r.Email) {
			users[inv.AccountUserID] = true
		}
	}
	for _, lock := range r.SmartlockIDs {
		for user := range users {
			inv, ok := s.state.Invitations[MakeInviteID(lock, user)]
			if ok && inv.RevokedAt.IsZero() {
				return fmt.Errorf("%w: %s already has an invitation to %s (%s); re-send it instead",
					ErrConflict, inv.Name, inv.LockName, inv.StatusAt(now, s.opts.ReminderBefore))
			}
		}
	}
	return nil
}
