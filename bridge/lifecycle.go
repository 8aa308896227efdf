package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Languages Nuki Web knows for account users.
var Languages = []string{"en", "de", "es", "fr", "it", "nl", "cs", "sk"}

const maxAuthName = 32 // Nuki's limit for an authorization's name

// Limits of a create request, checked before anything is echoed, logged or
// sent: an e-mail address is at most 254 characters (RFC 5321), and no
// account has more locks than one request may name.
const (
	maxEmail           = 254
	maxName            = 100
	maxRequestID       = 128
	MaxLocksPerRequest = 200
)

// quote quotes the start of a value for an error message, at most 40
// characters of it.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(string([]rune(s)[:max])) + "…"
}

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
	if len(r.RequestID) > maxRequestID {
		bad("request_id must be at most %d characters", maxRequestID)
	}
	if r.Kind == "" {
		r.Kind = KindApp
	} else if !r.Kind.Valid() {
		bad("kind %s must be \"app\" or \"keypad\"", quote(string(r.Kind)))
	}
	keypad := r.Kind == KindKeypad
	switch {
	case r.Email == "" && keypad:
	case r.Email == "":
		bad("email is required")
	case len(r.Email) > maxEmail:
		bad("email must be at most %d characters", maxEmail)
	default:
		if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email ||
			!strings.Contains(r.Email[strings.LastIndex(r.Email, "@"):], ".") {
			bad("email %s is not an email address like guest@example.com", quote(r.Email))
		}
	}
	if r.Name == "" {
		bad("name is required")
	} else if utf8.RuneCountInString(r.Name) > maxName {
		bad("name must be at most %d characters", maxName)
	}
	r.Language = strings.ToLower(strings.TrimSpace(r.Language))
	if r.Language == "" {
		r.Language = "en"
	} else if !slices.Contains(Languages, r.Language) {
		bad("language %s is not one of %s", quote(r.Language), strings.Join(Languages, ", "))
	}
	switch {
	case keypad:
		problems = append(problems, r.keypadProblems()...)
	case r.Delivery == "":
		r.Delivery = DeliveryNuki
	case !r.Delivery.Valid():
		bad("delivery %s must be \"nuki\" or \"custom\"", quote(string(r.Delivery)))
	}
	if !keypad && (!r.Code.IsZero() || r.TimeZone != "") {
		bad("code and time_zone apply to keypad codes only (\"kind\": \"keypad\")")
	}
	switch n := len(r.SmartlockIDs); {
	case n == 0:
		bad("smartlock_ids must name at least one lock")
	case n > MaxLocksPerRequest:
		bad("smartlock_ids names %d locks; at most %d in one request", n, MaxLocksPerRequest)
	default:
		seen := make(map[int64]bool, n)
		for _, id := range r.SmartlockIDs {
			if id <= 0 {
				bad("smartlock_ids: %d is not a lock id", id)
			} else if seen[id] {
				bad("smartlock_ids: %d is listed twice", id)
			}
			seen[id] = true
		}
	}
	return append(problems, r.Access.problems()...)
}

// validate checks a create request against the account as well: every lock
// must exist (and have a keypad, for a keypad code), and custom delivery of
// invitations needs the Advanced API.
func (s *Service) validate(r *CreateRequest) error {
	problems := r.problems()
	s.mu.RLock()
	for _, id := range r.SmartlockIDs {
		if len(r.SmartlockIDs) > MaxLocksPerRequest {
			break
		}
		if _, ok := s.state.Locks[id]; !ok && id > 0 {
			problems = append(problems, fmt.Sprintf("lock %d is not in the Nuki Web account (sync first, or check the id)", id))
		}
	}
	if r.Kind == KindKeypad && len(r.SmartlockIDs) <= MaxLocksPerRequest {
		problems = append(problems, s.keypadLockProblems(r)...)
	}
	s.mu.RUnlock()
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	if r.Kind == KindApp && r.Delivery == DeliveryCustom && !s.opts.AdvancedAPI {
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
// lock, delivered by Nuki's email or (custom) by ours. The invitations are
// committed as sending before Nuki Web is asked, and become pending once the
// lock confirms (a later sync or follow-up). The same RequestID twice within
// 30 days returns the first result and creates nothing more. Errors wrap
// ErrInvalid, ErrConflict, ErrDisabled or a *NukiError. When Nuki refuses
// some locks, the invitations for them are returned as failed (the scheduler
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
	user := User{Email: r.Email}
	var code Secret
	var err error
	if r.Kind == KindKeypad {
		code, err = s.keypadCode(r)
	} else {
		user, err = s.accountUser(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	invs := make([]Invitation, 0, len(r.SmartlockIDs))
	for _, lock := range r.SmartlockIDs {
		id := MakeInviteID(lock, user.ID)
		if r.Kind == KindKeypad {
			id = s.nextKeypadID(lock)
		}
		inv, exists := s.state.Invitations[id]
		if exists && inv.RevokedAt.IsZero() {
			return nil, fmt.Errorf("%w: %s already has an invitation to %s (%s); re-send it instead",
				ErrConflict, inv.Name, inv.LockName, inv.StatusAt(now, s.opts.ReminderBefore))
		}
		if !exists {
			inv = Invitation{ID: id, SmartlockID: lock, AccountUserID: user.ID}
		}
		inv = inv.Clone()
		inv.Name, inv.Email, inv.Language, inv.TimeZone = r.Name, user.Email, r.Language, r.TimeZone
		inv.LockName = s.state.Locks[lock].Name
		inv.Delivery, inv.RemoteAllowed, inv.Access, inv.Adopted = r.Delivery, r.RemoteAllowed, r.Access, false
		inv.RevokedAt, inv.AuthID, inv.PrevAuthID = time.Time{}, "", ""
		detail := "delivery: " + string(r.Delivery)
		if r.Kind == KindKeypad {
			inv.Kind, detail = KindKeypad, "keypad code, window "+windowText(r.Access)
		}
		inv.record(now, EventCreated, r.Actor, detail)
		invs = append(invs, inv)
	}

	claim := &change{}
	for i := range invs {
		invs[i].claimSending(now)
		if r.Kind == KindKeypad {
			invs[i].HasCode = true
			if claim.batch.Codes == nil {
				claim.batch.Codes = map[InviteID]Secret{}
			}
			claim.batch.Codes[invs[i].ID] = code
		}
		invs[i].Status = invs[i].StatusAt(now, s.opts.ReminderBefore)
		claim.put(invs[i], now, EventCreated)
	}
	if r.RequestID != "" {
		req := Request{ID: r.RequestID, At: now}
		for _, inv := range invs {
			req.Invites = append(req.Invites, inv.ID)
		}
		claim.batch.Requests = append(claim.batch.Requests, req)
	}
	if err := s.commit(ctx, claim); err != nil {
		return nil, err
	}
	errs := s.send(ctx, invs, r.Delivery)
	var failures []error
	for i, err := range errs {
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", invs[i].LockName, err))
		}
	}
	if err := s.commitSent(ctx, invs, errs, false); err != nil {
		return nil, err
	}
	s.log.Info("invitation created", "kind", r.Kind, "invites", len(invs), "delivery", r.Delivery, "failed", len(failures), "actor", r.Actor)
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
// Nuki's answer to creating an email it has is not documented (400 has been
// seen), so any refusal is followed by a second look-up.
func (s *Service) accountUser(ctx context.Context, r CreateRequest) (User, error) {
	u, err := s.nuki.FindUser(ctx, r.Email)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, err
	}
	u, err = s.nuki.CreateUser(ctx, NewUser{Email: r.Email, Name: r.Name, Language: r.Language})
	if err != nil && errors.Is(err, ErrNukiRejected) {
		if found, ferr := s.nuki.FindUser(ctx, r.Email); ferr == nil {
			return found, nil
		}
	}
	return u, err
}

func authName(name string) string {
	if utf8.RuneCountInString(name) <= maxAuthName {
		return name
	}
	return string([]rune(name)[:maxAuthName])
}

// Resend replaces the invitation's authorization with a new one, keeping the
// invitation id; the new validity starts when the lock confirms it. It is a
// procedure that survives restarts: the old authorization is deleted, the
// new one is created only once Nuki Web no longer lists the old one, and the
// status says sending meanwhile. It ends with one new authorization and one
// Nuki email, or failed with the reason (the scheduler retries). Refused
// (ErrConflict) for revoked invitations, for accepted ones unless o.Force,
// and within the cool-down.
func (s *Service) Resend(ctx context.Context, id InviteID, o ResendOptions) (Invitation, error) {
	if !s.exists(id) {
		return Invitation{}, notFound(id)
	}
	s.op.Lock()
	defer s.op.Unlock()
	inv, ok := s.state.Invitations[id]
	if !ok {
		return Invitation{}, notFound(id)
	}
	if inv.Keypad() {
		return Invitation{}, fmt.Errorf("%w: a keypad code is not re-sent; revoke it and create a new one", ErrConflict)
	}
	inv = inv.Clone()
	now := s.now()
	switch inv.StatusAt(now, s.opts.ReminderBefore) {
	case StatusAccepted:
		if !o.Force {
			return Invitation{}, fmt.Errorf("%w: %s accepted this invitation on %s (signal %s); a re-send would take the working key away until the new code is redeemed: send \"force\": true to do it anyway",
				ErrConflict, inv.Name, inv.AcceptedAt.Format("2006-01-02 15:04 MST"), inv.AcceptedSignal)
		}
	case StatusRevoked:
		return Invitation{}, fmt.Errorf("%w: the invitation was revoked; create a new one instead", ErrConflict)
	}
	if since := now.Sub(inv.LastResendAt); !inv.LastResendAt.IsZero() && since < s.opts.ResendCooldown {
		return Invitation{}, fmt.Errorf("%w: re-sent %s ago; a new re-send is possible in %s (RESEND_COOLDOWN)",
			ErrConflict, since.Round(time.Second), (s.opts.ResendCooldown - since).Round(time.Second))
	}
	if inv.Replacing && inv.FailedAt.IsZero() {
		return Invitation{}, fmt.Errorf("%w: a re-send of this invitation is under way (%s)", ErrConflict, inv.waitingFor())
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
	detail := "re-send started"
	if o.Force && inv.StatusAt(now, s.opts.ReminderBefore) == StatusAccepted {
		detail = "re-send of an accepted invitation started (forced)"
	}
	inv.claimResend(now, o.Delivery)
	inv.record(now, EventChanged, o.Actor, detail)
	c := &change{}
	inv.Status = inv.StatusAt(now, s.opts.ReminderBefore)
	c.put(inv, now, EventChanged)
	if err := s.commit(ctx, c); err != nil {
		return Invitation{}, err
	}
	s.log.Info("invitation re-send started", "invite", id, "delivery", o.Delivery, "actor", o.Actor)
	return s.advance(ctx, id, o.Actor)
}

// Revoke deletes the authorization; the invitation becomes revoked. Nuki Web
// may list the authorization until the lock has carried the delete out; a
// sync ignores it meanwhile. A create still waiting for the lock is deleted
// once the lock has carried it out.
func (s *Service) Revoke(ctx context.Context, id InviteID, actor string) (Invitation, error) {
	if !s.exists(id) {
		return Invitation{}, notFound(id)
	}
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
	// A create Nuki took may still be carried out by the lock: whatever
	// appears for it is deleted then.
	outstanding := inv.awaitingLock() || inv.Replacing || inv.RequestID != ""
	busy := ""
	for _, authID := range []string{inv.AuthID, inv.PrevAuthID} {
		if authID == "" {
			continue
		}
		err := s.nuki.DeleteAuth(ctx, inv.SmartlockID, authID)
		switch {
		case err == nil:
			inv.Deleting = appendOnce(inv.Deleting, authID)
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrBusy) && authID == inv.PrevAuthID && !inv.DeleteRequestedAt.IsZero():
			inv.Deleting = appendOnce(inv.Deleting, authID) // its delete is already running
		case errors.Is(err, ErrBusy):
			busy = authID // the lock is at an earlier change; the scheduler deletes it after
		default:
			return Invitation{}, fmt.Errorf("revoking %s: %w", id, err)
		}
	}
	now := s.now()
	// RequestID stays: should Nuki still carry out a custom request, its
	// result is recognised as belonging to a revoked invitation and deleted.
	inv.RevokedAt, inv.AuthID, inv.PrevAuthID, inv.Replacing, inv.DeleteRequestedAt = now, busy, "", false, time.Time{}
	inv.DeleteLate = outstanding
	inv.CheckRequestedAt = time.Time{}
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

func appendOnce(ids []string, id string) []string {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// findAuth fills in the id of the invitation's authorization from Nuki Web,
// when there is one and it is not one being deleted.
func (s *Service) findAuth(ctx context.Context, inv *Invitation) error {
	a, err := s.lookUp(ctx, inv)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case a.ID != inv.PrevAuthID && !slices.Contains(inv.Deleting, a.ID):
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
	if !s.exists(id) {
		return Code{}, notFound(id)
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
		if inv.Keypad() {
			why = "the keypad code can no longer be used"
		} else if inv.Delivery == DeliveryCustom {
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
			types := inv.confirmByNuki(now, s.opts.Validity, res)
			inv.HasCode = true
			if c.batch.Codes == nil {
				c.batch.Codes = map[InviteID]Secret{}
			}
			c.batch.Codes[inv.ID] = res.Code
			inv.record(now, EventCodeReady, "nuki", "")
			c.put(inv, now, append(types, EventCodeReady)...)
			ready = append(ready, inv.ID)
		case found && res.Success:
			types := inv.confirmByNuki(now, s.opts.Validity, res)
			inv.record(now, EventChanged, "nuki", "created without a code in Nuki's answer")
			c.put(inv, now, withEvent(types, EventChanged)...)
		default:
			reason := "Nuki could not create the authorization"
			if why, ok := nukiErrorCodes[strings.ToLower(res.ErrorCode)]; ok {
				reason += ": " + why
			} else if res.ErrorCode != "" {
				reason += " (error " + res.ErrorCode + ")"
			}
			// The sending never happened: take it back, so the retry counts
			// once (and a first invitation stays a first one).
			inv.unclaimSending(now, reason)
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

// confirmByNuki applies the success of an advanced create on the
// invitation's lock: Nuki reports it once the lock has the authorization, so
// the validity starts. It returns the events that says happened.
func (inv *Invitation) confirmByNuki(now time.Time, validity time.Duration, res AuthCreationResult) []EventType {
	inv.Attempts, inv.ResendUnconfirmed = 0, false
	if res.AuthID != "" && inv.AuthID == "" {
		inv.AuthID = res.AuthID
	}
	if inv.ExpiresAt.IsZero() {
		inv.confirm(now, validity)
		return []EventType{EventSent}
	}
	return nil
}

// exists reports whether there is an invitation with that id, without
// waiting for an action under way: a command that needs no Nuki Web call
// answers at once.
func (s *Service) exists(id InviteID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.state.Invitations[id]
	return ok
}
