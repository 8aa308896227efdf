package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// logOverlap is how far back each activity-log read reaches before the
// previous one: a lock without a bridge uploads entries late, dated when they
// happened. Entries already applied are recognised by their date.
const logOverlap = time.Hour

// Run syncs at start, then every interval and whenever RequestSync is called,
// until ctx ends; then it returns nil. A failed sync is retried at the next
// interval, or after Nuki's Retry-After when that is longer. Between syncs it
// looks up, every FollowUp, the invitations that wait for their lock.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	follow := time.NewTicker(s.opts.FollowUp)
	defer follow.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-follow.C:
			if err := s.FollowUp(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("follow-up failed", "err", err)
			}
			continue
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

// Sync reads Nuki Web and the activity log since the last sync, writes what
// changed in one transaction and tells the subscribers; then it carries on
// the re-sends that wait for their lock. A sync that finds nothing new writes
// nothing and emits nothing; a failed one changes nothing and records why in
// the SyncState.
//
// Nuki Web is read without holding up commands: they wait only while what
// was read is compared and written. Syncs run one at a time.
func (s *Service) Sync(ctx context.Context) error {
	s.syncing.Lock()
	defer s.syncing.Unlock()
	s.mu.RLock()
	first := s.sync.LastSync.IsZero() && s.sync.Status != SyncRunning
	s.mu.RUnlock()
	if first {
		s.setSync(func(st *SyncState) { st.Status = SyncRunning })
	}
	now := s.now()
	since := s.logSince
	if since.IsZero() {
		since = now.Add(-s.opts.Validity)
	}
	s.mu.Lock()
	start := s.seq
	// Only commits after start matter to this sync's diff.
	s.touched = map[InviteID]uint64{}
	s.mu.Unlock()
	snap, err := s.nuki.Fetch(ctx)
	var entries []LogEntry
	truncated := false
	if err == nil {
		entries, truncated, err = s.nuki.ActivityLog(ctx, since.Add(-logOverlap))
	}
	s.op.Lock()
	defer s.op.Unlock()
	calls, nLocks, nAuths := snap.Calls, len(snap.Locks), len(snap.Auths)
	if err == nil {
		c := s.diff(snap, entries, s.now(), start)
		snap = Snapshot{} // what is left of it is in c
		if reason := s.hold(c); reason != "" {
			s.log.Warn("sync held", "closing", len(c.closing))
			s.setSync(func(st *SyncState) {
				st.Status = SyncHeld
				st.LastError = reason
			})
			return nil
		}
		keypad := c.keypad
		parts := c.split()
		c = nil
		for i, part := range parts {
			if err = s.commit(ctx, part); err != nil {
				break
			}
			parts[i] = nil // in memory now: let the part's copies go
		}
		if err == nil {
			s.mu.Lock()
			s.keypad = *keypad
			s.mu.Unlock()
		}
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
	s.logSince = now
	if truncated {
		s.log.Warn("the activity log had more entries since the last sync than one read takes; older ones were skipped")
	}
	s.setSync(func(st *SyncState) {
		st.Status = SyncOK
		st.LastError = ""
		st.LastSync = s.opts.Now()
	})
	s.log.Debug("sync done", "calls", calls, "locks", nLocks, "auths", nAuths, "log", len(entries))
	if err := s.followUp(ctx, followAfterMap); err != nil {
		s.log.Warn("carrying on after the sync", "err", err)
	}
	s.mailKeypadCodes(ctx)
	return nil
}

// syncPart is the most invitations one sync writes in one transaction. A
// larger change, such as the first sync of a large account, is written in
// parts: each invitation whole, with its authorization, and the next sync
// finishes what a crash between parts left. Every part holds its records in
// memory until its transaction ends; parts keep that small, and a part
// written is let go while the next is written.
const syncPart = 2000

// split returns the parts of a sync's change (see change.partSize), each
// with the events, authorizations and code of its invitations. The first
// part carries the locks, users and the authorizations of no invitation of
// c; the last deletes the authorizations Nuki no longer lists. A change of
// at most partSize invitations comes back whole.
func (c *change) split() []*change {
	if len(c.sealed) == 0 {
		return []*change{c}
	}
	b := &c.batch
	parts := append(c.sealed, &change{batch: Batch{Invitations: b.Invitations}, events: c.events})
	partOf := func(id InviteID) *Batch {
		if i, ok := c.partOf[id]; ok {
			return &parts[i].batch
		}
		return &parts[0].batch
	}
	first, last := &parts[0].batch, &parts[len(parts)-1].batch
	first.Locks, first.DeleteLocks, first.Users, first.DeleteUsers = b.Locks, b.DeleteLocks, b.Users, b.DeleteUsers
	first.Requests, first.DeleteRequests = b.Requests, b.DeleteRequests
	last.DeleteAuths = b.DeleteAuths
	for _, a := range b.Auths {
		pb := partOf(MakeInviteID(a.SmartlockID, a.AccountUserID))
		pb.Auths = append(pb.Auths, a)
	}
	for id, code := range b.Codes {
		pb := partOf(id)
		if pb.Codes == nil {
			pb.Codes = map[InviteID]Secret{}
		}
		pb.Codes[id] = code
	}
	for _, id := range b.DeleteCodes {
		pb := partOf(id)
		pb.DeleteCodes = append(pb.DeleteCodes, id)
	}
	return parts
}

// Holding a sync: one that would close at least holdMin open invitations,
// and more than holdShare of them, at once is not carried out until the next
// sync finds the same or the user confirms. One bad answer from Nuki Web (an
// empty account) must not revoke everything.
const (
	holdMin   = 5
	holdShare = 0.2
)

// hold decides whether the change c of a sync is held, and says why; ""
// carries it out. Call with s.syncing and s.op held.
func (s *Service) hold(c *change) string {
	open := 0
	now := s.opts.Now()
	for _, inv := range s.state.Invitations {
		if inv.StatusAt(now, s.opts.ReminderBefore).Open() {
			open++
		}
	}
	closing := slices.Clone(c.closing)
	slices.Sort(closing)
	unusual := len(closing) >= holdMin && float64(len(closing)) > holdShare*float64(open)
	agreed := s.heldOK || len(s.held) > 0 && isSubset(closing, s.held)
	if !unusual || agreed {
		s.held, s.heldOK = nil, false
		return ""
	}
	s.held = closing
	return fmt.Sprintf("this sync would revoke %d of %d open invitations at once, whose authorizations Nuki Web no longer lists; "+
		"nothing was changed. The next sync carries it out if Nuki Web still agrees, or confirm it now", len(closing), open)
}

// isSubset reports whether every id of a (sorted) is in b (sorted).
func isSubset(a, b []InviteID) bool {
	for _, id := range a {
		if _, ok := slices.BinarySearch(b, id); !ok {
			return false
		}
	}
	return true
}

// ConfirmHeldSync carries out a held sync: the user has checked that the
// invitations it would revoke are really gone. It asks for a sync, which
// then revokes them; without a held sync it does nothing and returns
// ErrConflict.
func (s *Service) ConfirmHeldSync() error {
	s.mu.RLock()
	held := s.sync.Status == SyncHeld
	s.mu.RUnlock()
	if !held {
		return fmt.Errorf("%w: no sync is held", ErrConflict)
	}
	s.syncing.Lock()
	s.heldOK = true
	s.syncing.Unlock()
	s.RequestSync()
	return nil
}

func syncStatusOf(err error) SyncStatus {
	switch {
	case errors.Is(err, ErrNukiUnauthorized):
		return SyncAuthError
	case errors.Is(err, ErrNukiRateLimited):
		return SyncRateLimited
	case errors.Is(err, ErrStore):
		return SyncStoreError
	}
	return SyncUnreachable
}

// diff compares a snapshot and the new activity-log entries with the state
// and returns what changed. An invitation changed by a commit after start
// (the commit count when the snapshot was read) is left to the next sync:
// the snapshot may predate that change. An authorization counts as deleted
// in Nuki Web only when two syncs in a row do not list it. Call with s.op
// and s.syncing held.
func (s *Service) diff(snap Snapshot, entries []LogEntry, now time.Time, start uint64) *change {
	st := &s.state
	c := &change{partSize: syncPart}
	b := &c.batch

	locks, puts, dels := mirror(st.Locks, snap.Locks, func(l Lock) int64 { return l.ID })
	b.Locks, b.DeleteLocks = puts, dels
	users, uputs, udels := mirror(st.Users, snap.Users, func(u User) int64 { return u.ID })
	b.Users, b.DeleteUsers = uputs, udels
	byInvite := make(map[InviteID]int, len(snap.Auths)) // index into snap.Auths
	seen := make(map[string]bool, len(snap.Auths))
	for i, a := range snap.Auths {
		if a.Type != AuthTypeApp || a.AccountUserID == 0 {
			continue
		}
		seen[a.ID] = true
		if old, ok := st.Auths[a.ID]; !ok || !old.Equal(a) {
			b.Auths = append(b.Auths, a)
		}
		id := MakeInviteID(a.SmartlockID, a.AccountUserID)
		if inv, ok := st.Invitations[id]; ok && (inv.PrevAuthID == a.ID || slices.Contains(inv.Deleting, a.ID)) {
			continue // deleted here, the lock has not carried it out yet
		}
		byInvite[id] = i
	}
	for id := range st.Auths {
		if !seen[id] {
			b.DeleteAuths = append(b.DeleteAuths, id)
		}
	}
	uses := make(map[InviteID][]LogEntry)
	for _, e := range entries {
		if e.AccountUserID != 0 {
			id := MakeInviteID(e.SmartlockID, e.AccountUserID)
			uses[id] = append(uses[id], e)
		}
	}

	// The invitations are changed as copies of the stored ones; they share
	// the history's and Deleting's backing arrays, which are only ever
	// appended to or replaced, never written in place. They are put in the
	// order of their ids, so that each part of a large change rewrites its
	// own stretch of the store's tree rather than a little of every page.
	ids := make([]InviteID, 0, max(len(byInvite), len(st.Invitations)))
	for id := range byInvite {
		ids = append(ids, id)
	}
	for id, inv := range st.Invitations {
		if _, ok := byInvite[id]; !ok && !inv.Keypad() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if i, ok := byInvite[id]; ok {
			s.diffListed(c, id, snap.Auths[i], seen, uses[id], locks, users, now, start)
		} else {
			s.diffUnlisted(c, id, seen, uses[id], now, start)
		}
	}
	s.diffKeypad(c, snap.KeypadCodes, entries, now, start)
	return c
}

// diffListed is diff's part for an invitation whose authorization Nuki Web
// lists.
func (s *Service) diffListed(c *change, id InviteID, a Auth, seen map[string]bool, uses []LogEntry, locks map[int64]Lock, users map[int64]User, now time.Time, start uint64) {
	delete(s.missing, id)
	if s.touched[id] > start {
		return
	}
	stored, known := s.state.Invitations[id]
	inv := stored
	if !known {
		inv = s.adopt(a, now)
	}
	old, hadOld := s.state.Auths[a.ID]
	types := s.observe(&inv, a, old, hadOld, locks, users, now)
	used := s.applyUses(&inv, uses, now)
	if len(used) > 0 {
		types = withEvent(s.settle(&inv, now, types), "")
	}
	if !known {
		// What happened before we first saw it is history, not news:
		// Home Assistant gets the state, not a burst of old events.
		types, used = []EventType{EventChanged}, nil
	}
	if forgetDeleted(&inv, seen) && types == nil {
		types = []EventType{EventChanged}
	}
	if types != nil || len(used) > 0 {
		c.putUsed(inv, now, types, used)
	}
	if known && stored.HasCode && !inv.HasCode {
		c.batch.DeleteCodes = append(c.batch.DeleteCodes, id) // a new authorization: the old code is void
	}
}

// diffUnlisted is diff's part for a stored app invitation whose
// authorization Nuki Web does not list (or not as its own).
func (s *Service) diffUnlisted(c *change, id InviteID, seen map[string]bool, uses []LogEntry, now time.Time, start uint64) {
	if s.touched[id] > start {
		return
	}
	inv := s.state.Invitations[id]
	var types []EventType
	if inv.AuthID != "" && inv.RevokedAt.IsZero() && !inv.Replacing {
		if s.missing[id]++; s.missing[id] < 2 {
			return
		}
		if inv.StatusAt(now, s.opts.ReminderBefore).Open() {
			c.closing = append(c.closing, id)
		}
		inv.RevokedAt, inv.AuthID = now, ""
		inv.record(now, EventRevoked, "sync", "the authorization was deleted in Nuki Web")
	}
	used := s.applyUses(&inv, uses, now)
	if forgetDeleted(&inv, seen) && types == nil {
		types = []EventType{EventChanged}
	}
	if types = s.settle(&inv, now, types); types != nil || len(used) > 0 {
		c.putUsed(inv, now, types, used)
	}
}

// forgetDeleted drops the authorizations a delete was asked for that Nuki
// Web no longer lists, and reports whether any was dropped. It leaves the
// old slice as it was: the stored invitation may share it.
func forgetDeleted(inv *Invitation, listed map[string]bool) bool {
	var kept []string
	for _, id := range inv.Deleting {
		if listed[id] {
			kept = append(kept, id)
		}
	}
	if len(kept) == len(inv.Deleting) {
		return false
	}
	inv.Deleting = kept
	return true
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

// adopt makes an invitation of an authorization created elsewhere. Its
// validity counts from Nuki's creation date once the lock has it.
func (s *Service) adopt(a Auth, now time.Time) Invitation {
	sent := a.CreationDate
	if sent.IsZero() || sent.After(now) {
		sent = now
	}
	inv := Invitation{
		ID: MakeInviteID(a.SmartlockID, a.AccountUserID), SmartlockID: a.SmartlockID, AccountUserID: a.AccountUserID,
		Delivery: DeliveryNuki, Adopted: true, RemoteAllowed: a.RemoteAllowed, Access: a.Access,
		Send: 1, SentAt: sent, AuthID: a.ID, BaseAppID: a.AppID,
	}
	if lockHas(a) {
		inv.ConfirmedAt, inv.ExpiresAt = sent, sent.Add(s.opts.Validity)
	}
	inv.record(now, EventAdopted, "sync", "found in Nuki Web; what happened to it before is not in this database")
	return inv
}

// observe brings an invitation up to date with its authorization as listed
// now (a) and as last seen (old, if hadOld), and returns the events that
// says happened (nil when nothing changed).
func (s *Service) observe(inv *Invitation, a, old Auth, hadOld bool, locks map[int64]Lock, users map[int64]User, now time.Time) []EventType {
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
	if !hadOld || !old.Equal(a) {
		if ev := evidence(old, hadOld, a); ev != "" {
			inv.record(now, EventEvidence, "sync", ev)
			changed()
		}
	}

	if !inv.RevokedAt.IsZero() && inv.AuthID != a.ID && (inv.RequestID != "" || inv.DeleteLate) {
		// The lock carried out a request made before the revoke: the
		// invitation stays revoked and the scheduler deletes this
		// authorization. Any later one is a new sending made in Nuki Web.
		inv.AuthID, inv.RequestID, inv.DeleteLate = a.ID, "", false
		inv.record(now, EventChanged, "sync", "an authorization Nuki made after the revoke will be deleted")
		return s.settle(inv, now, []EventType{EventChanged})
	}
	if inv.AuthID != a.ID {
		if inv.AuthID == "" && inv.RevokedAt.IsZero() && inv.PrevAuthID == "" && inv.Send > 0 {
			// First sight of this sending's authorization.
			inv.BaseAppID = a.AppID
			if inv.Replacing && inv.RequestID == "" {
				// A create that timed out was carried out after all.
				inv.Replacing, inv.FailedAt, inv.LastError = false, time.Time{}, ""
				inv.record(now, EventChanged, "sync", "the lock carried out the create after all")
			}
		} else {
			// Re-created in Nuki Web (by hand, or after we saw it deleted):
			// a new sending we did not make.
			sent := a.CreationDate
			if sent.IsZero() || sent.Before(inv.SentAt) || sent.After(now) {
				sent = now
			}
			inv.Send++
			inv.SentAt, inv.ExpiresAt, inv.ConfirmedAt = sent, time.Time{}, time.Time{}
			inv.AcceptedAt, inv.AcceptedSignal, inv.RevokedAt, inv.FailedAt, inv.LastError = time.Time{}, "", time.Time{}, time.Time{}, ""
			inv.BaseAppID, inv.Replacing, inv.PrevAuthID, inv.DeleteRequestedAt, inv.HasCode = a.AppID, false, "", time.Time{}, false
			inv.Attempts, inv.RequestID = 0, ""
			inv.record(now, EventAdopted, "sync", "the authorization was created again in Nuki Web")
			if lockHas(a) {
				inv.ConfirmedAt, inv.ExpiresAt = sent, sent.Add(s.opts.Validity)
			}
		}
		inv.AuthID = a.ID
		changed()
	}
	if inv.awaitingLock() && lockHas(a) && a.Error == "" {
		inv.confirm(now, s.opts.Validity)
		types = append(types[:0:0], EventSent)
	}

	if inv.AcceptedAt.IsZero() && inv.RevokedAt.IsZero() && !inv.ExpiresAt.IsZero() {
		if signal := acceptance(inv, a); signal != "" {
			inv.AcceptedAt = a.LastActiveDate
			if inv.AcceptedAt.IsZero() || inv.AcceptedAt.After(now) {
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
	} else if a.Error == "" && hadOld && old.Error != "" && !inv.FailedAt.IsZero() && !inv.Replacing {
		inv.FailedAt, inv.LastError = time.Time{}, ""
		inv.record(now, EventChanged, "sync", "Nuki Web reports the authorization without error now")
		changed()
	}
	return s.settle(inv, now, types)
}

// applyUses records the guest's new activity-log entries and returns them,
// oldest first: each is a history line (and, for the caller, a used event),
// and the first one during a sending is acceptance (signal activity_log, at
// the entry's date). Entries not newer than LastUsedAt were applied before.
func (s *Service) applyUses(inv *Invitation, entries []LogEntry, now time.Time) []LogEntry {
	slices.SortFunc(entries, func(a, b LogEntry) int { return a.Date.Compare(b.Date) })
	var used []LogEntry
	for _, e := range entries {
		if !e.Date.After(inv.LastUsedAt) || !inv.usedBy(e) {
			continue
		}
		inv.LastUsedAt = e.Date
		inv.record(now, EventUsed, "sync", useDetail(e))
		used = append(used, e)
		if inv.AcceptedAt.IsZero() && inv.RevokedAt.IsZero() {
			inv.AcceptedAt, inv.AcceptedSignal = e.Date, SignalActivityLog
			if e.Date.After(now) {
				inv.AcceptedAt = now
			}
			inv.FailedAt, inv.LastError = time.Time{}, ""
			if inv.ExpiresAt.IsZero() {
				// Used before a sync saw the lock confirm it: the lock has it.
				inv.ConfirmedAt, inv.ExpiresAt = e.Date, e.Date.Add(s.opts.Validity)
			}
		}
	}
	return used
}

// withEvent adds ev to types ("" adds nothing) and drops a lone
// EventChanged, which only asks for the state to be republished.
func withEvent(types []EventType, ev EventType) []EventType {
	if len(types) == 1 && types[0] == EventChanged && ev != "" {
		types = types[:0]
	}
	if ev != "" {
		types = append(types, ev)
	}
	return types
}

// RequestSync asks the Run loop for a sync soon; it never blocks. Webhooks
// about changed authorizations and users call it.
func (s *Service) RequestSync() {
	select {
	case s.syncNow <- struct{}{}:
	default:
	}
}
