package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Languages Nuki Web knows for account users.
var Languages = []string{"en", "de", "es", "fr", "it", "nl", "cs", "sk"}

const maxAuthName = 32 // Nuki's limit for an authorization's name

// Check normalises a create request (trims, lower-cases the language, fills
// in the defaults) and checks everything that needs no Nuki Web account: the
// error wraps ErrInvalid and names every problem at once. Service.Create
// calls it; so may anything that wants to refuse bad input early.
func (r *CreateRequest) Check() error {
	if problems := r.problems(); len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func (r *CreateRequest) problems() []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	r.RequestID = strings.TrimSpace(r.RequestID)
	r.Email = strings.TrimSpace(r.Email)
	r.Name = strings.TrimSpace(r.Name)
	if len(r.RequestID) > 128 {
		bad("request_id must be at most 128 characters")
	}
	if r.Email == "" {
		bad("email is required")
	} else if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email ||
		!strings.Contains(r.Email[strings.LastIndex(r.Email, "@"):], ".") {
		bad("email %q is not an email address like guest@example.com", r.Email)
	}
	if r.Name == "" {
		bad("name is required")
	} else if utf8.RuneCountInString(r.Name) > 100 {
		bad("name must be at most 100 characters")
	}
	r.Language = strings.ToLower(strings.TrimSpace(r.Language))
	if r.Language == "" {
		r.Language = "en"
	} else if !slices.Contains(Languages, r.Language) {
		bad("language %q is not one of %s", r.Language, strings.Join(Languages, ", "))
	}
	if r.Delivery == "" {
		r.Delivery = DeliveryNuki
	} else if !r.Delivery.Valid() {
		bad("delivery %q must be \"nuki\" or \"custom\"", r.Delivery)
	}
	if len(r.SmartlockIDs) == 0 {
		bad("smartlock_ids must name at least one lock")
	}
	for i, id := range r.SmartlockIDs {
		if id <= 0 {
			bad("smartlock_ids: %d is not a lock id", id)
		} else if slices.Contains(r.SmartlockIDs[:i], id) {
			bad("smartlock_ids: %d is listed twice", id)
		}
	}
	return append(problems, r.Access.problems()...)
}

// validate checks a create request against the account as well: every lock
// must exist, and custom delivery needs the Advanced API.
func (s *Service) validate(r *CreateRequest) error {
	problems := r.problems()
	s.mu.RLock()
	for _, id := range r.SmartlockIDs {
		if _, ok := s.state.Locks[id]; !ok && id > 0 {
			problems = append(problems, fmt.Sprintf("lock %d is not in the Nuki Web account (sync first, or check the id)", id))
		}
	}
	s.mu.RUnlock()
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	if r.Delivery == DeliveryCustom && !s.opts.AdvancedAPI {
		return fmt.Errorf("%w: custom delivery needs the Nuki Advanced API: set NUKI_ADVANCED_API=true once Nuki has granted it", ErrDisabled)
	}
	return nil
}

func (a Access) problems() []string {
	var p []string
	if !a.From.IsZero() && !a.Until.IsZero() && !a.Until.After(a.From) {
		p = append(p, "allowed_until must be after allowed_from")
	}
	if a.WeekDays < 0 || a.WeekDays > 127 {
		p = append(p, "allowed_weekdays must be a bitmask from 0 to 127")
	}
	for name, m := range map[string]int{"allowed_from_time": a.FromTime, "allowed_until_time": a.UntilTime} {
		if m < 0 || m >= 24*60 {
			p = append(p, name+" must be a time of day between 00:00 and 23:59")
		}
	}
	if (a.FromTime != 0 || a.UntilTime != 0) && a.UntilTime <= a.FromTime {
		p = append(p, "allowed_until_time must be later in the day than allowed_from_time")
	}
	return p
}

// Create finds or creates the account user and gives them an app key on each
// lock, delivered by Nuki's email or (custom) by ours. The same RequestID
// twice within 30 days returns the first result and creates nothing more. Errors wrap
// ErrInvalid, ErrConflict, ErrDisabled or a *NukiError. When Nuki refuses some
// locks, the invitations for them are returned as failed (the scheduler
// retries them) together with an error saying so.
func (s *Service) Create(ctx context.Context, r CreateRequest) ([]Invitation, error) {
	if err := s.validate(&r); err != nil {
		return nil, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if r.RequestID != "" {
		if req, ok := s.state.Requests[r.RequestID]; ok {
			return s.current(req.Invites), nil
		}
	}
	user, err := s.accountUser(ctx, r)
	if err != nil {
		return nil, err
	}
	now := s.now()
	invs := make([]Invitation, 0, len(r.SmartlockIDs))
	for _, lock := range r.SmartlockIDs {
		id := MakeInviteID(lock, user.ID)
		inv, exists := s.state.Invitations[id]
		if exists && inv.RevokedAt.IsZero() {
			return nil, fmt.Errorf("%w: %s already has an invitation to %s (%s); re-send it instead",
				ErrConflict, inv.Name, inv.LockName, inv.StatusAt(now, s.opts.ReminderBefore))
		}
		if !exists {
			inv = Invitation{ID: id, SmartlockID: lock, AccountUserID: user.ID}
		}
		inv.Name, inv.Email, inv.Language = r.Name, user.Email, r.Language
		inv.LockName = s.state.Locks[lock].Name
		inv.Delivery, inv.RemoteAllowed, inv.Access, inv.Adopted = r.Delivery, r.RemoteAllowed, r.Access, false
		inv.RevokedAt, inv.AuthID, inv.PrevAuthID = time.Time{}, "", ""
		inv.record(now, EventCreated, r.Actor, "delivery: "+string(r.Delivery))
		invs = append(invs, inv)
	}

	c := &change{}
	var failures []error
	sent := s.send(ctx, invs, r.Delivery, now)
	for i := range invs {
		inv := &invs[i]
		if err := sent[i]; err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", inv.LockName, err))
		}
		inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
		types := []EventType{EventCreated}
		if sent[i] == nil && r.Delivery == DeliveryNuki {
			types = append(types, EventSent)
		} else if sent[i] != nil {
			types = append(types, EventFailed)
		}
		c.put(*inv, now, types...)
	}
	if r.RequestID != "" {
		req := Request{ID: r.RequestID, At: now}
		for _, inv := range invs {
			req.Invites = append(req.Invites, inv.ID)
		}
		c.batch.Requests = append(c.batch.Requests, req)
	}
	if err := s.commit(ctx, c); err != nil {
		return nil, err
	}
	s.log.Info("invitation created", "invites", len(invs), "delivery", r.Delivery, "failed", len(failures), "actor", r.Actor)
	out := s.current(inviteIDs(invs))
	if len(failures) > 0 {
		return out, fmt.Errorf("Nuki Web refused %d of %d locks; they will be retried: %w", len(failures), len(invs), errors.Join(failures...))
	}
	return out, nil
}

func inviteIDs(invs []Invitation) []InviteID {
	ids := make([]InviteID, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
	}
	return ids
}

// current returns the stored invitations with these ids, status current.
func (s *Service) current(ids []InviteID) []Invitation {
	out := make([]Invitation, 0, len(ids))
	for _, id := range ids {
		if inv, err := s.Invitation(id); err == nil {
			inv.History = nil
			out = append(out, inv)
		}
	}
	return out
}

// accountUser finds the Nuki account user with r's email or creates one.
func (s *Service) accountUser(ctx context.Context, r CreateRequest) (User, error) {
	u, err := s.nuki.FindUser(ctx, r.Email)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, err
	}
	u, err = s.nuki.CreateUser(ctx, NewUser{Email: r.Email, Name: r.Name, Language: r.Language})
	var nerr *NukiError
	if errors.As(err, &nerr) && nerr.Status == 409 {
		return s.nuki.FindUser(ctx, r.Email) // created meanwhile
	}
	return u, err
}

// send asks Nuki Web for a new authorization for each invitation (all of one
// user) and records a new sending on success, or the failure. It returns one
// error per invitation. Call with s.op held; it does not commit.
func (s *Service) send(ctx context.Context, invs []Invitation, d Delivery, now time.Time) []error {
	errs := make([]error, len(invs))
	if len(invs) == 0 {
		return errs
	}
	grant := Grant{AccountUserID: invs[0].AccountUserID, Name: authName(invs[0].Name),
		RemoteAllowed: invs[0].RemoteAllowed, Access: invs[0].Access}
	var requestID string
	if d == DeliveryCustom {
		locks := make([]int64, len(invs))
		for i, inv := range invs {
			locks[i] = inv.SmartlockID
		}
		var err error
		if requestID, err = s.nuki.CreateAdvancedAuth(ctx, locks, grant); err != nil {
			for i := range errs {
				errs[i] = err
			}
		}
	} else {
		for i, inv := range invs {
			errs[i] = s.nuki.CreateAuth(ctx, inv.SmartlockID, grant)
			var nerr *NukiError
			if errors.As(errs[i], &nerr) && nerr.Status == 409 && inv.Replacing {
				// Nuki holds one app authorization per user and lock: if a
				// new one is there, it was created just before a crash.
				if a, err := s.nuki.FindAuth(ctx, inv.SmartlockID, inv.AccountUserID); err == nil && a.ID != inv.PrevAuthID {
					errs[i] = nil
				}
			}
		}
	}
	for i := range invs {
		inv := &invs[i]
		if errs[i] != nil {
			inv.Replacing = true
			inv.Attempts++
			inv.FailedAt, inv.LastError = now, nukiReason(errs[i])
			inv.record(now, EventFailed, "", "Nuki Web refused the authorization: "+inv.LastError)
			continue
		}
		inv.Send++
		inv.SentAt, inv.ExpiresAt = now, now.Add(s.opts.Validity)
		inv.Delivery, inv.RequestID = d, requestID
		inv.Replacing, inv.FailedAt, inv.LastError = false, time.Time{}, ""
		if d == DeliveryNuki {
			// A custom create counts as done only once Nuki's webhook says
			// so: a lock that stays offline must not be retried for ever.
			inv.Attempts = 0
		}
		inv.AcceptedAt, inv.AcceptedSignal, inv.HasCode = time.Time{}, "", false
		inv.BaseAuthID = 0
		detail := "Nuki emailed the invite code"
		if d == DeliveryCustom {
			detail = "waiting for Nuki to hand over the invite code"
		}
		inv.record(now, EventSent, "", detail)
	}
	return errs
}

// nukiReason is the message kept as an invitation's last error.
func nukiReason(err error) string {
	var nerr *NukiError
	if errors.As(err, &nerr) && nerr.Description != "" {
		return nerr.Description
	}
	return err.Error()
}

func authName(name string) string {
	if utf8.RuneCountInString(name) <= maxAuthName {
		return name
	}
	return string([]rune(name)[:maxAuthName])
}

// Resend deletes the authorization and creates it again, keeping the
// invitation id and restarting its validity. Refused (ErrConflict) for
// accepted or revoked invitations and within the cool-down.
func (s *Service) Resend(ctx context.Context, id InviteID, o ResendOptions) (Invitation, error) {
	s.op.Lock()
	defer s.op.Unlock()
	return s.resend(ctx, id, o, false)
}

// resend does the work of Resend; auto marks the scheduler's automatic
// re-sends, which skip the cool-down. Call with s.op held.
func (s *Service) resend(ctx context.Context, id InviteID, o ResendOptions, auto bool) (Invitation, error) {
	inv, ok := s.state.Invitations[id]
	if !ok {
		return Invitation{}, notFound(id)
	}
	inv = inv.Clone()
	now := s.now()
	switch inv.StatusAt(now, s.opts.ReminderBefore) {
	case StatusAccepted:
		return Invitation{}, fmt.Errorf("%w: %s accepted this invitation on %s; there is nothing to re-send",
			ErrConflict, inv.Name, inv.AcceptedAt.Format("2006-01-02 15:04 MST"))
	case StatusRevoked:
		return Invitation{}, fmt.Errorf("%w: the invitation was revoked; create a new one instead", ErrConflict)
	}
	if since := now.Sub(inv.LastResendAt); !auto && !inv.LastResendAt.IsZero() && since < s.opts.ResendCooldown {
		return Invitation{}, fmt.Errorf("%w: re-sent %s ago; a new re-send is possible in %s (RESEND_COOLDOWN)",
			ErrConflict, since.Round(time.Second), (s.opts.ResendCooldown - since).Round(time.Second))
	}
	if o.Delivery == "" {
		o.Delivery = inv.Delivery
	}
	if !o.Delivery.Valid() {
		return Invitation{}, fmt.Errorf("%w: delivery %q must be nuki or custom", ErrInvalid, o.Delivery)
	}
	if o.Delivery == DeliveryCustom && !s.opts.AdvancedAPI {
		return Invitation{}, fmt.Errorf("%w: custom delivery needs the Nuki Advanced API: set NUKI_ADVANCED_API=true", ErrDisabled)
	}

	if inv.AuthID == "" && !inv.Replacing {
		// Not seen by a sync yet: ask Nuki which authorization to replace.
		if err := s.findAuth(ctx, &inv); err != nil {
			return Invitation{}, fmt.Errorf("re-sending %s: %w", id, err)
		}
	}
	// Claim first: from here a crash leaves an invitation the scheduler
	// finishes, never one a sync takes for revoked.
	if !inv.Replacing {
		inv.Replacing, inv.PrevAuthID = true, inv.AuthID
		inv.record(now, EventChanged, o.Actor, "re-send started")
		c := &change{}
		c.put(inv, now)
		if err := s.commit(ctx, c); err != nil {
			return Invitation{}, err
		}
	}
	return s.replace(ctx, inv, o.Delivery, o.Actor, now)
}

// replace deletes the old authorization (if any) and creates the new one,
// then commits the outcome. Call with s.op held and inv.Replacing committed.
func (s *Service) replace(ctx context.Context, inv Invitation, d Delivery, actor string, now time.Time) (Invitation, error) {
	if inv.PrevAuthID != "" {
		err := s.nuki.DeleteAuth(ctx, inv.SmartlockID, inv.PrevAuthID)
		var nerr *NukiError
		if err != nil && !(errors.As(err, &nerr) && nerr.Status == 404) {
			inv.Attempts++
			inv.record(now, EventFailed, "", "Nuki Web refused to delete the old authorization: "+nukiReason(err))
			return s.failResend(ctx, inv, now, err)
		}
	}
	first := inv.Send == 0 // a first create Nuki refused before
	invs := []Invitation{inv}
	errs := s.send(ctx, invs, d, now)
	inv = invs[0]
	if errs[0] != nil {
		return s.failResend(ctx, inv, now, errs[0])
	}
	inv.AuthID = ""
	types := []EventType{EventSent}
	if !first {
		inv.ResendCount++
		inv.ResendUnconfirmed = d == DeliveryCustom
		inv.LastResendAt = now
		inv.record(now, EventResent, actor, fmt.Sprintf("re-send %d, delivery %s", inv.ResendCount, d))
		types = []EventType{EventResent}
		if d == DeliveryNuki {
			types = append(types, EventSent)
		}
	}
	inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
	c := &change{}
	c.put(inv, now, types...)
	c.batch.DeleteCodes = append(c.batch.DeleteCodes, inv.ID) // the old code died with the old authorization
	if err := s.commit(ctx, c); err != nil {
		return Invitation{}, err
	}
	s.log.Info("invitation re-sent", "invite", inv.ID, "resends", inv.ResendCount, "delivery", d, "actor", actor)
	return s.Invitation(inv.ID)
}

// failResend records a refused re-send or create; the scheduler retries it.
func (s *Service) failResend(ctx context.Context, inv Invitation, now time.Time, cause error) (Invitation, error) {
	if inv.FailedAt.IsZero() {
		inv.FailedAt = now
	}
	inv.LastError = nukiReason(cause)
	types := s.settle(&inv, now, nil)
	c := &change{}
	c.put(inv, now, types...)
	if err := s.commit(ctx, c); err != nil {
		return Invitation{}, err
	}
	return Invitation{}, fmt.Errorf("sending %s: %w (it will be retried)", inv.ID, cause)
}

// Revoke deletes the authorization; the invitation becomes revoked.
func (s *Service) Revoke(ctx context.Context, id InviteID, actor string) (Invitation, error) {
	s.op.Lock()
	defer s.op.Unlock()
	inv, ok := s.state.Invitations[id]
	if !ok {
		return Invitation{}, notFound(id)
	}
	if !inv.RevokedAt.IsZero() {
		return Invitation{}, fmt.Errorf("%w: the invitation was revoked on %s already", ErrConflict, inv.RevokedAt.Format("2006-01-02 15:04 MST"))
	}
	inv = inv.Clone()
	if inv.AuthID == "" {
		// Not seen by a sync yet: find it, or a sync would bring it back.
		if err := s.findAuth(ctx, &inv); err != nil {
			return Invitation{}, fmt.Errorf("revoking %s: %w", id, err)
		}
	}
	for _, authID := range []string{inv.AuthID, inv.PrevAuthID} {
		if authID == "" {
			continue
		}
		err := s.nuki.DeleteAuth(ctx, inv.SmartlockID, authID)
		var nerr *NukiError
		if err != nil && !(errors.As(err, &nerr) && nerr.Status == 404) {
			return Invitation{}, fmt.Errorf("revoking %s: %w", id, err)
		}
	}
	now := s.now()
	// RequestID stays: should Nuki still carry out a custom request, its
	// result is recognised as belonging to a revoked invitation and deleted.
	inv.RevokedAt, inv.AuthID, inv.PrevAuthID, inv.Replacing = now, "", "", false
	inv.record(now, EventRevoked, actor, "revoked")
	types := s.settle(&inv, now, nil)
	c := &change{}
	c.put(inv, now, types...)
	if err := s.commit(ctx, c); err != nil {
		return Invitation{}, err
	}
	s.log.Info("invitation revoked", "invite", id, "actor", actor)
	return s.Invitation(id)
}

// findAuth fills in the id of the invitation's authorization from Nuki Web,
// when there is one and it is not the one a re-send replaced.
func (s *Service) findAuth(ctx context.Context, inv *Invitation) error {
	a, err := s.nuki.FindAuth(ctx, inv.SmartlockID, inv.AccountUserID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case a.ID != inv.PrevAuthID:
		inv.AuthID = a.ID
	}
	return nil
}

// RevealCode returns the invite code and records who asked. ErrDisabled unless
// ExposeCodes; ErrNotFound when no usable code is stored.
func (s *Service) RevealCode(ctx context.Context, id InviteID, actor string) (Code, error) {
	if !s.opts.ExposeCodes {
		return Code{}, fmt.Errorf("%w: invite codes stay hidden unless EXPOSE_CODES=true (add-on option expose_codes)", ErrDisabled)
	}
	s.op.Lock()
	defer s.op.Unlock()
	inv, ok := s.state.Invitations[id]
	if !ok {
		return Code{}, notFound(id)
	}
	code, ok := s.state.Codes[id]
	now := s.now()
	if !ok || !inv.HasCode || !inv.StatusAt(now, s.opts.ReminderBefore).Open() {
		why := "Nuki emails the code itself with nuki delivery"
		if inv.Delivery == DeliveryCustom {
			why = "it has not arrived from Nuki yet, or can no longer be used"
		}
		return Code{}, fmt.Errorf("%w: no invite code is stored for %s: %s", ErrNotFound, id, why)
	}
	inv = inv.Clone()
	inv.record(now, EventCodeRevealed, actor, "")
	c := &change{}
	c.put(inv, now)
	if err := s.commit(ctx, c); err != nil {
		return Code{}, err
	}
	s.log.Info("invite code revealed", "invite", id, "actor", actor)
	return Code{InviteID: id, Code: code, ExpiresAt: inv.ExpiresAt}, nil
}

// nukiErrorCodes explains the error codes of advanced create webhooks.
var nukiErrorCodes = map[string]string{
	"ff":   "the lock is most likely offline",
	"0x13": "the lock holds 200 authorizations already",
}

// HandleAuthCreation applies the outcome of an advanced create request. An
// unknown or already handled request id returns ErrNotFound and changes
// nothing. With SMTP configured, the code goes to the guest in our email.
func (s *Service) HandleAuthCreation(ctx context.Context, r AuthCreation) error {
	s.op.Lock()
	defer s.op.Unlock()
	now := s.now()
	c := &change{}
	var ready []InviteID
	for _, inv := range s.state.Invitations {
		if r.RequestID == "" || inv.RequestID != r.RequestID {
			continue
		}
		inv = inv.Clone()
		res, found := AuthCreationResult{}, false
		for _, x := range r.Results {
			if x.SmartlockID == inv.SmartlockID {
				res, found = x, true
			}
		}
		if !inv.RevokedAt.IsZero() {
			// Revoked while Nuki was still at it: nothing of this result is
			// kept; an authorization it made is deleted by the scheduler (or
			// found by the next sync, while RequestID still names it).
			if found && res.Success && res.AuthID != "" {
				inv.AuthID, inv.RequestID = res.AuthID, ""
			} else if !found || !res.Success {
				inv.RequestID = ""
			}
			inv.record(now, EventChanged, "nuki", "Nuki's answer came after the revoke; its authorization will be deleted")
			c.put(inv, now)
			continue
		}
		inv.RequestID = ""
		switch {
		case found && res.Success && !res.Code.IsZero():
			inv.HasCode, inv.Attempts, inv.ResendUnconfirmed = true, 0, false
			if c.batch.Codes == nil {
				c.batch.Codes = map[InviteID]Secret{}
			}
			c.batch.Codes[inv.ID] = res.Code
			inv.record(now, EventCodeReady, "nuki", "")
			c.put(inv, now, EventCodeReady)
			ready = append(ready, inv.ID)
		case found && res.Success:
			inv.Attempts, inv.ResendUnconfirmed = 0, false
			inv.record(now, EventChanged, "nuki", "created without a code in Nuki's answer")
			c.put(inv, now, EventChanged)
		default:
			reason := "Nuki could not create the authorization"
			if why, ok := nukiErrorCodes[strings.ToLower(res.ErrorCode)]; ok {
				reason += ": " + why
			} else if res.ErrorCode != "" {
				reason += " (error " + res.ErrorCode + ")"
			}
			inv.FailedAt, inv.LastError, inv.Replacing = now, reason, true
			inv.Attempts++
			// The sending never happened: take it back, so the retry counts
			// once (and a first invitation stays a first one).
			if inv.Send > 0 {
				inv.Send--
			}
			if inv.ResendUnconfirmed {
				inv.ResendCount, inv.ResendUnconfirmed = inv.ResendCount-1, false
			}
			inv.record(now, EventFailed, "nuki", reason)
			types := s.settle(&inv, now, nil)
			c.put(inv, now, types...)
		}
	}
	if len(c.batch.Invitations) == 0 {
		return fmt.Errorf("%w: no invitation waits for request %q", ErrNotFound, r.RequestID)
	}
	if err := s.commit(ctx, c); err != nil {
		return err
	}
	for _, id := range ready {
		kind := MessageInvite
		if s.state.Invitations[id].ResendCount > 0 {
			kind = MessageResend
		}
		s.mailCode(ctx, id, kind)
	}
	return nil
}
