package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Run syncs at start, then every interval and whenever RequestSync is called,
// until ctx ends; then it returns nil. A failed sync is retried at the next
// interval, or after Nuki's Retry-After when that is longer.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.syncNow:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		next := interval
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			var nerr *NukiError
			if errors.As(err, &nerr) && nerr.RetryAfter > next {
				next = nerr.RetryAfter
			}
		}
		// A little jitter keeps many installations from calling Nuki in step.
		timer.Reset(next + rand.N(next/20+1))
	}
}

// Sync reads Nuki Web, writes what changed in one transaction and tells the
// subscribers. A sync that finds nothing new writes nothing and emits nothing;
// a failed one changes nothing and records why in the SyncState.
func (s *Service) Sync(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.RLock()
	first := s.sync.LastSync.IsZero() && s.sync.Status != SyncRunning
	s.mu.RUnlock()
	if first {
		s.setSync(func(st *SyncState) { st.Status = SyncRunning })
	}
	snap, err := s.nuki.Fetch(ctx)
	if err == nil {
		err = s.commit(ctx, s.diff(snap, s.now()))
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.log.Warn("sync failed", "err", err)
		s.setSync(func(st *SyncState) {
			st.Status = syncStatusOf(err)
			st.LastError = err.Error()
		})
		return fmt.Errorf("sync: %w", err)
	}
	s.setSync(func(st *SyncState) {
		st.Status = SyncOK
		st.LastError = ""
		st.LastSync = s.opts.Now()
	})
	s.log.Debug("sync done", "calls", snap.Calls, "locks", len(snap.Locks), "auths", len(snap.Auths))
	return nil
}

func syncStatusOf(err error) SyncStatus {
	switch {
	case errors.Is(err, ErrNukiUnauthorized):
		return SyncAuthError
	case errors.Is(err, ErrNukiRateLimited):
		return SyncRateLimited
	}
	return SyncUnreachable
}

// diff compares a snapshot with the state and returns what changed. Call with
// s.op held.
func (s *Service) diff(snap Snapshot, now time.Time) *change {
	st := &s.state
	c := &change{}
	b := &c.batch

	locks, puts, dels := mirror(st.Locks, snap.Locks, func(l Lock) int64 { return l.ID })
	b.Locks, b.DeleteLocks = puts, dels
	users, uputs, udels := mirror(st.Users, snap.Users, func(u User) int64 { return u.ID })
	b.Users, b.DeleteUsers = uputs, udels
	byInvite := make(map[InviteID]Auth, len(snap.Auths))
	seen := make(map[string]bool, len(snap.Auths))
	for _, a := range snap.Auths {
		if a.Type != AuthTypeApp || a.AccountUserID == 0 {
			continue
		}
		seen[a.ID] = true
		if old, ok := st.Auths[a.ID]; !ok || !old.Equal(a) {
			b.Auths = append(b.Auths, a)
		}
		id := MakeInviteID(a.SmartlockID, a.AccountUserID)
		if inv, ok := st.Invitations[id]; ok && inv.PrevAuthID == a.ID {
			continue // the authorization a re-send replaced, still listed
		}
		byInvite[id] = a
	}
	for id := range st.Auths {
		if !seen[id] {
			b.DeleteAuths = append(b.DeleteAuths, id)
		}
	}

	for id, a := range byInvite {
		inv, known := st.Invitations[id]
		if !known {
			inv = s.adopt(a, now)
		}
		types := s.observe(&inv, a, locks, users, now)
		if !known {
			// What happened before we first saw it is history, not news:
			// Home Assistant gets the state, not a burst of old events.
			types = []EventType{EventChanged}
		}
		if types != nil {
			c.put(inv, now, types...)
		}
		if known && st.Invitations[id].HasCode && !inv.HasCode {
			b.DeleteCodes = append(b.DeleteCodes, id) // a new authorization: the old code is void
		}
	}
	for id, inv := range st.Invitations {
		if _, ok := byInvite[id]; ok {
			continue
		}
		var types []EventType
		if inv.AuthID != "" && inv.RevokedAt.IsZero() && !inv.Replacing {
			inv.RevokedAt, inv.AuthID = now, ""
			inv.record(now, EventRevoked, "sync", "the authorization was deleted in Nuki Web")
		}
		if types = s.settle(&inv, now, types); types != nil {
			c.put(inv, now, types...)
		}
	}
	return c
}

// mirror compares what Nuki Web lists with what is stored: it returns the
// listed items by key, the new or changed ones and the keys no longer listed.
func mirror[K comparable, V comparable](stored map[K]V, listed []V, key func(V) K) (map[K]V, []V, []K) {
	byKey := make(map[K]V, len(listed))
	var puts []V
	for _, v := range listed {
		k := key(v)
		byKey[k] = v
		if old, ok := stored[k]; !ok || old != v {
			puts = append(puts, v)
		}
	}
	var dels []K
	for k := range stored {
		if _, ok := byKey[k]; !ok {
			dels = append(dels, k)
		}
	}
	return byKey, puts, dels
}

// adopt makes an invitation of an authorization created elsewhere.
func (s *Service) adopt(a Auth, now time.Time) Invitation {
	sent := a.CreationDate
	if sent.IsZero() {
		sent = now
	}
	inv := Invitation{
		ID: MakeInviteID(a.SmartlockID, a.AccountUserID), SmartlockID: a.SmartlockID, AccountUserID: a.AccountUserID,
		Delivery: DeliveryNuki, Adopted: true, RemoteAllowed: a.RemoteAllowed, Access: a.Access,
		Send: 1, SentAt: sent, ExpiresAt: sent.Add(s.opts.Validity),
	}
	inv.record(now, EventAdopted, "sync", "found in Nuki Web")
	return inv
}

// observe brings an invitation up to date with its authorization and returns
// the events that says happened (nil when nothing changed).
func (s *Service) observe(inv *Invitation, a Auth, locks map[int64]Lock, users map[int64]User, now time.Time) []EventType {
	var types []EventType
	changed := func() {
		if types == nil {
			types = []EventType{EventChanged}
		}
	}
	name, email, language := a.Name, "", inv.Language
	if u, ok := users[a.AccountUserID]; ok {
		name, email = u.Name, u.Email
		if u.Language != "" {
			language = u.Language
		}
	}
	lockName := inv.LockName
	if l, ok := locks[a.SmartlockID]; ok {
		lockName = l.Name
	}
	if inv.Name != name || inv.Email != email || inv.LockName != lockName || inv.Language != language {
		inv.Name, inv.Email, inv.LockName, inv.Language = name, email, lockName, language
		changed()
	}

	if !inv.RevokedAt.IsZero() && inv.RequestID != "" {
		// Nuki carried out a custom request after the revoke: the invitation
		// stays revoked and the scheduler deletes this authorization.
		inv.AuthID, inv.RequestID = a.ID, ""
		inv.record(now, EventChanged, "sync", "an authorization Nuki made after the revoke will be deleted")
		return s.settle(inv, now, []EventType{EventChanged})
	}
	if inv.AuthID != a.ID {
		switch {
		case inv.AuthID == "" && inv.RevokedAt.IsZero():
			// First sight of this sending's authorization.
			inv.BaseAuthID = a.AuthID
			inv.Replacing, inv.PrevAuthID, inv.Attempts = false, "", 0
		default:
			// Re-created in Nuki Web (by hand, or after we saw it deleted):
			// a new sending we did not make.
			sent := a.CreationDate
			if sent.IsZero() || sent.Before(inv.SentAt) {
				sent = now
			}
			inv.Send++
			inv.SentAt, inv.ExpiresAt = sent, sent.Add(s.opts.Validity)
			inv.AcceptedAt, inv.AcceptedSignal, inv.RevokedAt, inv.FailedAt, inv.LastError = time.Time{}, "", time.Time{}, time.Time{}, ""
			inv.BaseAuthID, inv.Replacing, inv.PrevAuthID, inv.HasCode = a.AuthID, false, "", false
			inv.record(now, EventAdopted, "sync", "the authorization was created again in Nuki Web")
		}
		inv.AuthID = a.ID
		changed()
	}

	if inv.AcceptedAt.IsZero() && inv.RevokedAt.IsZero() {
		if signal := acceptance(inv, a); signal != "" {
			inv.AcceptedAt = a.LastActiveDate
			if inv.AcceptedAt.IsZero() {
				inv.AcceptedAt = now
			}
			inv.AcceptedSignal = signal
			changed()
		}
	}
	if a.Error != "" && (inv.FailedAt.IsZero() || inv.LastError != a.Error) && inv.AcceptedAt.IsZero() {
		inv.FailedAt, inv.LastError = now, a.Error
		inv.record(now, EventFailed, "sync", "Nuki Web reports: "+a.Error)
		changed()
	} else if a.Error == "" && !inv.FailedAt.IsZero() && !inv.Replacing {
		inv.FailedAt, inv.LastError = time.Time{}, ""
		inv.record(now, EventChanged, "sync", "Nuki Web reports the authorization without error now")
		changed()
	}
	return s.settle(inv, now, types)
}

// acceptance returns the signal showing that a has been redeemed, or "".
// Nuki Web keeps no invitation status; its staff point to lockCount. An appId
// is taken as the redeeming app's; an authId only counts when it appears
// after this sending was first seen, since the lock may assign one before.
func acceptance(inv *Invitation, a Auth) Signal {
	switch {
	case a.LockCount > 0:
		return SignalLockCount
	case !a.LastActiveDate.IsZero():
		return SignalLastActive
	case a.AppID != 0:
		return SignalAppID
	case a.AuthID != 0 && a.AuthID != inv.BaseAuthID:
		return SignalAuthID
	}
	return ""
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
	}
	if ev == "" || prev == "" && status == StatusPending {
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

// RequestSync asks the Run loop for a sync soon; it never blocks. Webhooks
// about changed authorizations and users call it.
func (s *Service) RequestSync() {
	select {
	case s.syncNow <- struct{}{}:
	default:
	}
}
