package bridge

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds what keypad codes do differently from invitations: a code
// of our own choosing, locks that must have a keypad, a window that must end,
// matching Nuki's listing by code (a create answers no id), uses seen as
// keypad entries of the activity log, our e-mail before the window opens and
// the deletion from Nuki Web once it is over. Everything else (the store,
// claims before actions, confirmation by the lock, history, events) is the
// invitations' lifecycle.

// keypadListing is what a sync read of the keypad codes on the locks.
type keypadListing struct {
	// inUse holds, per lock, every code Nuki Web listed on it: a new code
	// must differ from all of them.
	inUse map[int64]map[string]bool
	// unmanaged are the codes made elsewhere (Nuki Web, the app), without
	// their Code.
	unmanaged []Auth
	// codes are the unmanaged codes' digits by Nuki's id, kept in memory
	// only, for AdoptKeypadCode.
	codes map[string]Secret
}

// maxTimeZone bounds the length of a time zone name in a request.
const maxTimeZone = 64

// keypadProblems checks what a keypad code needs of a create request and
// fills in its delivery: nuki-invites hands the code over (our e-mail, or a
// reveal on request), never Nuki.
func (r *CreateRequest) keypadProblems() []string {
	var p []string
	switch r.Delivery {
	case "", DeliveryCustom:
		r.Delivery = DeliveryCustom
	default:
		p = append(p, "delivery does not apply to keypad codes: nuki-invites e-mails the code (when email is given) or reveals it on request; leave delivery out")
	}
	if r.RemoteAllowed {
		p = append(p, "remote_allowed does not apply to keypad codes")
	}
	if r.Access.Until.IsZero() {
		p = append(p, "allowed_until is required for a keypad code: a code without an end would open the door for ever")
	}
	if !r.Code.IsZero() {
		if err := CheckKeypadCode(r.Code); err != nil {
			p = append(p, "code: "+strings.TrimSuffix(err.Error(), ": "+ErrInvalid.Error()))
		}
	}
	r.TimeZone = strings.TrimSpace(r.TimeZone)
	if r.TimeZone != "" {
		if _, err := time.LoadLocation(r.TimeZone); err != nil || len(r.TimeZone) > maxTimeZone || r.TimeZone == "Local" {
			p = append(p, fmt.Sprintf("time_zone %s is not a time zone such as Europe/Berlin", quote(r.TimeZone)))
		}
	}
	return p
}

// keypadLockProblems checks a keypad code's request against the account:
// each lock must have a keypad, and the window must not be over. Call with
// s.mu held.
func (s *Service) keypadLockProblems(r *CreateRequest) []string {
	var p []string
	for _, id := range r.SmartlockIDs {
		if l, ok := s.state.Locks[id]; ok && !l.Keypad {
			p = append(p, fmt.Sprintf("lock %d (%s) has no Nuki Keypad paired: pair one in the Nuki app first, or choose another lock", id, l.Name))
		}
	}
	if !r.Access.Until.IsZero() && !r.Access.Until.After(s.opts.Now()) {
		p = append(p, "allowed_until is in the past: the code could never be used")
	}
	return p
}

// keypadCode returns the code for a keypad request: the one asked for, or
// one drawn at random; either differs from every code on the request's
// locks that the last sync listed or that is ours. Call with s.op held.
func (s *Service) keypadCode(r CreateRequest) (Secret, error) {
	taken := s.codesOn(r.SmartlockIDs)
	if !r.Code.IsZero() {
		if taken[r.Code.Reveal()] {
			return "", fmt.Errorf("%w: this code is already used on one of the locks; choose another, or leave code out to have one drawn", ErrConflict)
		}
		return r.Code, nil
	}
	for range 1000 {
		code, err := drawKeypadCode()
		if err != nil {
			return "", fmt.Errorf("drawing a keypad code: %w", err)
		}
		if !taken[code.Reveal()] {
			return code, nil
		}
	}
	return "", fmt.Errorf("%w: no free keypad code was found for these locks", ErrConflict)
}

// codesOn returns the codes in use on any of the locks. Call with s.op held.
func (s *Service) codesOn(locks []int64) map[string]bool {
	taken := map[string]bool{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, lock := range locks {
		for code := range s.keypad.inUse[lock] {
			taken[code] = true
		}
	}
	for id, code := range s.state.Codes {
		if inv, ok := s.state.Invitations[id]; ok && inv.Keypad() && slices.Contains(locks, inv.SmartlockID) {
			taken[code.Reveal()] = true
		}
	}
	return taken
}

// drawKeypadCode draws a code from a cryptographic random source that obeys
// CheckKeypadCode: six digits from 1 to 9, not starting with 12.
func drawKeypadCode() (Secret, error) {
	nine := big.NewInt(9)
	for {
		digits := make([]byte, 6)
		for i := range digits {
			n, err := rand.Int(rand.Reader, nine)
			if err != nil {
				return "", err
			}
			digits[i] = byte('1' + n.Int64())
		}
		if code := Secret(digits); CheckKeypadCode(code) == nil {
			return code, nil
		}
	}
}

// nextKeypadID returns a new keypad id for a lock. Call with s.op held.
func (s *Service) nextKeypadID(lock int64) InviteID {
	prefix := strconv.FormatInt(lock, 10) + "-k"
	var last int64
	s.mu.RLock()
	for id := range s.state.Invitations {
		if n, ok := strings.CutPrefix(string(id), prefix); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > last {
				last = v
			}
		}
	}
	s.mu.RUnlock()
	return MakeKeypadID(lock, last+1)
}

// windowText describes an access window for the history.
func windowText(a Access) string {
	text := a.From.UTC().Format(time.RFC3339) + " – " + a.Until.UTC().Format(time.RFC3339)
	if a.From.IsZero() {
		text = "until " + a.Until.UTC().Format(time.RFC3339)
	}
	if a.WeekDays != 0 {
		text += fmt.Sprintf(", weekdays %07b", a.WeekDays)
	}
	if a.FromTime != 0 || a.UntilTime != 0 {
		text += fmt.Sprintf(", daily %02d:%02d–%02d:%02d", a.FromTime/60, a.FromTime%60, a.UntilTime/60, a.UntilTime%60)
	}
	return text
}

// sendKeypad asks Nuki Web for each keypad code (one lock each, all claimed
// as sendings) and returns one error per code. A create refused as a
// duplicate, or whose answer was lost, counts as made when the lock lists
// this code under this name: made before a crash, or by the lost request.
// Call with s.op held; it does not commit.
func (s *Service) sendKeypad(ctx context.Context, invs []Invitation) []error {
	errs := make([]error, len(invs))
	for i := range invs {
		inv := &invs[i]
		code := s.state.Codes[inv.ID]
		name := authName(inv.Name)
		errs[i] = s.nuki.CreateKeypadCode(ctx, []int64{inv.SmartlockID},
			KeypadGrant{Name: name, Code: code, Access: inv.Access})
		if !errors.Is(errs[i], ErrConflict) && !errors.Is(errs[i], ErrNukiUnavailable) {
			continue
		}
		a, err := s.nuki.FindKeypadCode(ctx, inv.SmartlockID, code)
		if err == nil && a.Name == name && !slices.Contains(inv.Deleting, a.ID) {
			errs[i], inv.AuthID = nil, a.ID
		}
	}
	return errs
}

// lookUp returns the access's authorization as Nuki Web lists it now: an
// invitation's by its user, a keypad code's by its code. None: an error
// matching ErrNotFound. Call with s.op held.
func (s *Service) lookUp(ctx context.Context, inv *Invitation) (Auth, error) {
	if !inv.Keypad() {
		return s.nuki.FindAuth(ctx, inv.SmartlockID, inv.AccountUserID)
	}
	code, ok := s.state.Codes[inv.ID]
	if !ok {
		return Auth{}, fmt.Errorf("%w: no code is stored for %s", ErrNotFound, inv.ID)
	}
	return s.nuki.FindKeypadCode(ctx, inv.SmartlockID, code)
}

// keypadUse reports whether a log entry is a keypad code the lock acted on.
func keypadUse(e LogEntry) bool {
	return e.Trigger == TriggerKeypad && e.Source == SourceKeypadCode && e.State == StateSuccess && e.AuthID != ""
}

// diffKeypad adds to c what a sync's listing of keypad codes and its new
// activity-log entries change of our keypad codes: the lock confirms one
// (recognised by its code until Nuki's id is known), a code is used, a code
// deleted in Nuki Web is revoked (two syncs in a row must miss it, as for
// invitations). Codes made elsewhere are kept in c.keypad, never changed.
// Call with s.op and s.syncing held.
func (s *Service) diffKeypad(c *change, listed []Auth, entries []LogEntry, now time.Time, start uint64) {
	st := &s.state
	listing := &keypadListing{inUse: map[int64]map[string]bool{}, codes: map[string]Secret{}}
	c.keypad = listing
	type lockCode struct {
		lock int64
		code string
	}
	byAuth, byCode := map[string]InviteID{}, map[lockCode]InviteID{}
	deleting := map[string]bool{}
	for id, inv := range st.Invitations {
		if !inv.Keypad() {
			continue
		}
		for _, d := range inv.Deleting {
			deleting[d] = true
		}
		if inv.AuthID != "" {
			byAuth[inv.AuthID] = id
		} else if code, ok := st.Codes[id]; ok && inv.RevokedAt.IsZero() {
			byCode[lockCode{inv.SmartlockID, code.Reveal()}] = id
		}
	}
	seen := make(map[string]bool, len(listed))
	ours := map[InviteID]Auth{}
	for _, a := range listed {
		code := a.Code.Reveal()
		if listing.inUse[a.SmartlockID] == nil {
			listing.inUse[a.SmartlockID] = map[string]bool{}
		}
		listing.inUse[a.SmartlockID][code] = true
		seen[a.ID] = true
		if deleting[a.ID] {
			continue
		}
		id, ok := byAuth[a.ID]
		if !ok {
			id, ok = byCode[lockCode{a.SmartlockID, code}]
		}
		if !ok {
			listing.codes[a.ID], a.Code = a.Code, ""
			listing.unmanaged = append(listing.unmanaged, a)
			continue
		}
		ours[id] = a
	}
	slices.SortFunc(listing.unmanaged, func(a, b Auth) int {
		return cmp.Or(cmp.Compare(a.SmartlockID, b.SmartlockID), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	uses := map[string][]LogEntry{}
	for _, e := range entries {
		if keypadUse(e) {
			uses[e.AuthID] = append(uses[e.AuthID], e)
		}
	}

	for id, inv := range st.Invitations {
		if !inv.Keypad() || s.touched[id] > start {
			continue
		}
		var types []EventType
		changed := func() {
			if types == nil {
				types = []EventType{EventChanged}
			}
		}
		if a, ok := ours[id]; ok {
			delete(s.missing, id)
			if inv.AuthID == "" {
				inv.AuthID = a.ID
				changed()
			}
			switch {
			case inv.awaitingLock() && lockHas(a) && a.Error == "":
				inv.confirm(now, s.opts.Validity)
				types = []EventType{EventSent}
			case a.Error != "" && (inv.FailedAt.IsZero() || inv.LastError != a.Error):
				inv.FailedAt, inv.LastError = now, a.Error
				inv.record(now, EventFailed, "sync", "Nuki Web reports: "+a.Error)
				changed()
			}
		} else if inv.AuthID != "" && inv.RevokedAt.IsZero() && !inv.Replacing {
			if s.missing[id]++; s.missing[id] < 2 {
				continue
			}
			delete(s.missing, id)
			if status := inv.StatusAt(now, 0); status == StatusEnded {
				inv.AuthID = ""
				inv.record(now, EventChanged, "sync", "Nuki Web no longer lists the ended keypad code")
				changed()
			} else {
				if status.Open() {
					c.closing = append(c.closing, id)
				}
				inv.RevokedAt, inv.AuthID = now, ""
				inv.record(now, EventRevoked, "sync", "the keypad code was deleted in Nuki Web")
			}
		}
		used := applyKeypadUses(&inv, uses[inv.AuthID], now)
		if forgetDeleted(&inv, seen) {
			changed()
		}
		if types = s.settle(&inv, now, types); types != nil || len(used) > 0 {
			c.putUsed(inv, now, types, used)
		}
	}
}

// applyKeypadUses records the keypad code's new uses and returns them,
// oldest first. Entries not newer than LastUsedAt were applied before.
func applyKeypadUses(inv *Invitation, entries []LogEntry, now time.Time) []LogEntry {
	slices.SortFunc(entries, func(a, b LogEntry) int { return a.Date.Compare(b.Date) })
	var used []LogEntry
	for _, e := range entries {
		if e.SmartlockID != inv.SmartlockID || !e.Date.After(inv.LastUsedAt) {
			continue
		}
		inv.LastUsedAt = e.Date
		inv.record(now, EventCodeUsed, "sync", useDetail(e))
		used = append(used, e)
	}
	return used
}

// keypadMailDue reports whether the keypad code's e-mail is due: the lock
// has the code, the window is not over, and it opens within
// KeypadEmailBefore (or has opened). Once per sending (the Mailed ledger).
func (s *Service) keypadMailDue(inv *Invitation, now time.Time) bool {
	if !inv.Keypad() || inv.Email == "" || !inv.HasCode || inv.Mailed >= inv.Send {
		return false
	}
	switch inv.StatusAt(now, 0) {
	case StatusScheduled, StatusActive, StatusUsed:
		return !now.Before(inv.Access.From.Add(-s.opts.KeypadEmailBefore))
	}
	return false
}

// mailKeypadCodes e-mails the keypad codes that are due, each once: the
// claim is committed before the message goes out (see mailCode). Call with
// s.op held.
func (s *Service) mailKeypadCodes(ctx context.Context) {
	if s.mailer == nil {
		return
	}
	now := s.now()
	// One code given on several locks at once goes out in one e-mail.
	type group struct {
		to, code    string
		from, until int64
	}
	due := map[group][]InviteID{}
	for id, inv := range s.state.Invitations {
		if s.keypadMailDue(&inv, now) {
			g := group{inv.Email, s.state.Codes[id].Reveal(), inv.Access.From.UnixNano(), inv.Access.Until.UnixNano()}
			due[g] = append(due[g], id)
		}
	}
	batches := slices.Collect(maps.Values(due))
	for _, ids := range batches {
		slices.Sort(ids)
	}
	slices.SortFunc(batches, func(a, b []InviteID) int { return strings.Compare(string(a[0]), string(b[0])) })
	for _, ids := range batches {
		s.mailCodes(ctx, ids, MessageKeypadCode)
	}
}

// cleanUpKeypadCodes deletes from Nuki Web the keypad codes whose window
// ended KeypadCleanupAfter ago, so the locks' 200 authorizations do not
// fill up. The deletion is claimed (CleanupAt, in the history) before it is
// asked for, and asked for again at later ticks until Nuki no longer has the
// code. Call with s.op held.
func (s *Service) cleanUpKeypadCodes(ctx context.Context) error {
	if s.opts.KeypadCleanupAfter < 0 {
		return nil
	}
	now := s.now()
	var errs []error
	for _, id := range s.pick(func(inv *Invitation) bool {
		return inv.Keypad() && inv.AuthID != "" && inv.StatusAt(now, 0) == StatusEnded &&
			!now.Before(inv.Access.Until.Add(s.opts.KeypadCleanupAfter))
	}) {
		inv := s.state.Invitations[id].Clone()
		if inv.CleanupAt.IsZero() {
			inv.CleanupAt = now
			inv.record(now, EventChanged, "scheduler", "deleting the keypad code from Nuki Web: its window ended "+
				inv.Access.Until.UTC().Format(time.RFC3339))
			claim := &change{}
			claim.put(inv, now)
			if err := s.commit(ctx, claim); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := s.nuki.DeleteAuth(ctx, inv.SmartlockID, inv.AuthID)
		switch {
		case err == nil:
			inv.Deleting = appendOnce(inv.Deleting, inv.AuthID)
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrBusy):
			continue // the lock is at an earlier change; the next tick asks again
		default:
			errs = append(errs, fmt.Errorf("deleting the ended keypad code %s: %w", id, err))
			continue
		}
		inv.AuthID = ""
		inv.record(now, EventChanged, "scheduler", "deleted the keypad code from Nuki Web")
		c := &change{}
		c.put(inv, now)
		if err := s.commit(ctx, c); err != nil {
			errs = append(errs, err)
		}
		s.log.Info("ended keypad code deleted from Nuki Web", "invite", id)
	}
	return errors.Join(errs...)
}

// UnmanagedKeypadCodes returns the keypad codes the last sync listed that
// were not made here (in Nuki Web or the Nuki app), by lock and name,
// without their codes. They are never changed here.
func (s *Service) UnmanagedKeypadCodes() []Auth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.keypad.unmanaged)
}

// AdoptKeypadCode takes on a keypad code made elsewhere (in Nuki Web or the
// Nuki app) that the last sync listed on that lock: from then on it has the
// lifecycle of a keypad code made here (statuses, uses, the deletion after
// its window, a Home Assistant device), under its name in Nuki and with its
// window as Nuki lists it. It is not e-mailed: it has no guest address. The
// error wraps ErrNotFound when the last sync listed no such code.
func (s *Service) AdoptKeypadCode(ctx context.Context, smartlockID int64, authID, actor string) (Invitation, error) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.RLock()
	var a Auth
	found := false
	for _, u := range s.keypad.unmanaged {
		if u.SmartlockID == smartlockID && u.ID == authID {
			a, found = u, true
			break
		}
	}
	code := s.keypad.codes[authID]
	lockName := s.state.Locks[smartlockID].Name
	s.mu.RUnlock()
	if !found || code == "" {
		return Invitation{}, fmt.Errorf("%w: the last sync listed no keypad code made elsewhere with id %s on lock %d",
			ErrNotFound, quote(authID), smartlockID)
	}
	now := s.now()
	sent := a.CreationDate
	if sent.IsZero() || sent.After(now) {
		sent = now
	}
	inv := Invitation{
		ID: s.nextKeypadID(smartlockID), Kind: KindKeypad, SmartlockID: smartlockID, Name: a.Name, LockName: lockName,
		AuthID: a.ID, Adopted: true, Access: a.Access, Send: 1, SentAt: sent, HasCode: true, Delivery: DeliveryCustom,
	}
	inv.record(now, EventAdopted, actor, "a keypad code made elsewhere, taken on; window "+windowText(a.Access))
	if lockHas(a) {
		inv.confirm(now, s.opts.Validity)
	}
	inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
	c := &change{}
	c.batch.Codes = map[InviteID]Secret{inv.ID: code}
	c.put(inv, now, EventChanged)
	if err := s.commit(ctx, c); err != nil {
		return Invitation{}, err
	}
	s.mu.Lock()
	s.keypad.unmanaged = slices.DeleteFunc(slices.Clone(s.keypad.unmanaged), func(u Auth) bool { return u.ID == authID })
	s.mu.Unlock()
	s.log.Info("keypad code adopted", "invite", inv.ID, "actor", actor)
	return s.Invitation(inv.ID)
}
