package mqtt

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nuki-invites/nuki-invites/bridge"
)

type kind int

const (
	kindOther     kind = iota // events: nothing to remember
	kindDiscovery             // remembered in b.discovery and the store
	kindState                 // remembered in b.states
)

// pub is one message of a batch. An empty payload on a retained topic clears
// it; its hash is the zero digest.
type pub struct {
	kind     kind
	topic    string
	payload  []byte
	retained bool
	hash     digest
	token    paho.Token
}

// visible reports whether an invitation is shown in Home Assistant: open, or
// closed less than the retention ago.
func (b *Bridge) visible(inv bridge.Invitation, now time.Time) bool {
	if inv.Status.Open() {
		return true
	}
	closed, ok := inv.ClosedAt()
	return ok && now.Sub(closed) < b.opts.Retention
}

// putDiscovery adds a discovery config unless the broker has it already.
func (b *Bridge) putDiscovery(msgs []pub, topic string, payload []byte, force bool) []pub {
	h := hashOf(payload)
	if old, ok := b.discovery[topic]; ok && old == h && !force {
		return msgs
	}
	return append(msgs, pub{kind: kindDiscovery, topic: topic, payload: payload, retained: true, hash: h})
}

// configKey is what an invitation's discovery config depends on, with the
// hash of the config built from it. It lets a state change skip building
// the config again.
type configKey struct {
	name, lock string
	under      int64 // parentLock
	hash       digest
}

// putInviteDiscovery adds an invitation's device config, under the device
// of the lock under (parentLock), unless the broker has it already.
func (b *Bridge) putInviteDiscovery(msgs []pub, inv bridge.Invitation, under int64, force bool) []pub {
	topic := b.topics.discovery(b.topics.inviteDevice(inv.ID))
	if k, ok := b.configs[inv.ID]; ok && !force && k.name == inv.Name && k.lock == inv.LockName && k.under == under {
		if old, ok := b.discovery[topic]; ok && old == k.hash {
			return msgs
		}
	}
	_, payload := b.inviteConfig(inv, b.parentDevice(under))
	h := hashOf(payload)
	b.configs[inv.ID] = configKey{name: inv.Name, lock: inv.LockName, under: under, hash: h}
	if old, ok := b.discovery[topic]; ok && old == h && !force {
		return msgs
	}
	return append(msgs, pub{kind: kindDiscovery, topic: topic, payload: payload, retained: true, hash: h})
}

// putState adds a retained state unless the broker has it already.
func (b *Bridge) putState(msgs []pub, topic string, payload []byte, force bool) []pub {
	h := hashOf(payload)
	if old, ok := b.states[topic]; ok && old == h && !force {
		return msgs
	}
	return append(msgs, pub{kind: kindState, topic: topic, payload: payload, retained: true, hash: h})
}

// clear adds the removal of a retained topic we may have published.
func clearMsg(msgs []pub, k kind, topic string) []pub {
	return append(msgs, pub{kind: k, topic: topic, retained: true})
}

// lockSet indexes the account's locks by id.
func lockSet(locks []bridge.Lock) map[int64]bridge.Lock {
	m := make(map[int64]bridge.Lock, len(locks))
	for _, l := range locks {
		m[l.ID] = l
	}
	return m
}

// parentLock is the lock whose device an invitation's device hangs under:
// its own, or 0 for the bridge's device when the account does not list the
// lock (any more).
func parentLock(inv bridge.Invitation, locks map[int64]bridge.Lock) int64 {
	if _, ok := locks[inv.SmartlockID]; ok {
		return inv.SmartlockID
	}
	return 0
}

// parentDevice is the device id of the lock parentLock returned.
func (b *Bridge) parentDevice(lock int64) string {
	if lock == 0 {
		return b.topics.bridgeDevice()
	}
	return b.topics.lockDevice(lock)
}

// putLock adds a lock's device config and its state (lockState) unless the
// broker has them already.
func (b *Bridge) putLock(msgs []pub, lock bridge.Lock, st lockState, forceStates, forceDiscovery bool) []pub {
	topic, payload := b.lockConfig(lock)
	msgs = b.putDiscovery(msgs, topic, payload, forceDiscovery)
	return b.putState(msgs, b.topics.lockState(lock.ID), mustJSON(st), forceStates)
}

// putUnmanaged adds the list of keypad codes made elsewhere unless the
// broker has it already. Until a sync has finished the Service does not know
// them, and what is retained stays.
func (b *Bridge) putUnmanaged(msgs []pub, locks map[int64]bridge.Lock, force bool) []pub {
	if !b.synced {
		return msgs
	}
	return b.putState(msgs, b.topics.keypadUnmanaged(), unmanagedPayload(b.svc.UnmanagedKeypadCodes(), locks), force)
}

// putInvite adds what one invitation needs: its device and state while it is
// visible, their removal once it is not.
func (b *Bridge) putInvite(msgs []pub, inv bridge.Invitation, under int64, now time.Time, force bool) []pub {
	dtopic := b.topics.discovery(b.topics.inviteDevice(inv.ID))
	stopic := b.topics.inviteState(inv.ID)
	if !b.visible(inv, now) {
		delete(b.configs, inv.ID)
		if _, ok := b.discovery[dtopic]; ok {
			msgs = clearMsg(msgs, kindDiscovery, dtopic)
		}
		if _, ok := b.states[stopic]; ok {
			msgs = clearMsg(msgs, kindState, stopic)
		}
		return msgs
	}
	msgs = b.putInviteDiscovery(msgs, inv, under, force)
	return b.putState(msgs, stopic, inviteStatePayload(inv), force)
}

// reconcile makes the broker hold exactly what Home Assistant should see:
// the bridge device and states, the device and state of every lock of the
// account, and the device and state of every visible invitation, newest
// sending first; everything else of ours is cleared. Devices go out before
// the devices under them. Unchanged messages are skipped unless forced. It
// reads the invitations flushEvery at a time, never all at once.
func (b *Bridge) reconcile(ctx context.Context, st bridge.SyncState, forceStates, forceDiscovery bool) {
	now := b.opts.Now()
	topic, payload := b.bridgeConfig()
	msgs := b.putDiscovery(nil, topic, payload, forceDiscovery)
	counts, order := b.survey(now)
	locks := b.svc.Locks()
	for _, lock := range locks {
		msgs = b.spill(ctx, b.putLock(msgs, lock, counts[lock.ID], forceStates, forceDiscovery))
	}
	byID := lockSet(locks)
	visible := make(map[bridge.InviteID]bool, len(order))
	for ids := range slices.Chunk(order, flushEvery) {
		for _, inv := range b.svc.InvitationsByID(ids) {
			if !b.visible(inv, now) {
				delete(b.configs, inv.ID)
				continue
			}
			visible[inv.ID] = true
			msgs = b.putInviteDiscovery(msgs, inv, parentLock(inv, byID), forceDiscovery)
			msgs = b.putState(msgs, b.topics.inviteState(inv.ID), inviteStatePayload(inv), forceStates)
			msgs = b.spill(ctx, msgs)
		}
	}
	for _, topic := range b.staleDiscovery(byID, visible) {
		msgs = b.spill(ctx, clearMsg(msgs, kindDiscovery, topic))
	}
	for _, topic := range b.staleStates(byID, visible) {
		msgs = b.spill(ctx, clearMsg(msgs, kindState, topic))
	}
	if payload, ok := nukiWebPayload(st.Status); ok {
		msgs = b.putState(msgs, b.topics.nukiWeb(), payload, forceStates)
	}
	b.synced = b.synced || !st.LastSync.IsZero()
	msgs = b.putUnmanaged(msgs, byID, forceStates)
	msgs = b.putState(msgs, b.topics.bridgeState(), bridgeStatePayload(st), forceStates)
	b.flush(ctx, msgs)
}

// survey reads every invitation, flushEvery at a time. It returns the state
// of each lock they are on (lockState) and the ids of the visible ones,
// newest sending first as Service.Invitations lists them, and forgets the
// configs of the others.
func (b *Bridge) survey(now time.Time) (counts map[int64]lockState, order []bridge.InviteID) {
	type sending struct {
		at time.Time
		id bridge.InviteID
	}
	ids := b.svc.InvitationIDs()
	sent := make([]sending, 0, len(ids))
	counts = make(map[int64]lockState)
	for batch := range slices.Chunk(ids, flushEvery) {
		for _, inv := range b.svc.InvitationsByID(batch) {
			st := counts[inv.SmartlockID]
			st.add(inv)
			counts[inv.SmartlockID] = st
			if !b.visible(inv, now) {
				delete(b.configs, inv.ID)
				continue
			}
			sent = append(sent, sending{at: inv.SentAt, id: inv.ID})
		}
	}
	slices.SortFunc(sent, func(x, y sending) int {
		return cmp.Or(y.at.Compare(x.at), strings.Compare(string(x.id), string(y.id)))
	})
	order = ids[:0] // ids are read: the order takes their room
	for _, s := range sent {
		order = append(order, s.id)
	}
	return counts, order
}

// staleDiscovery returns, sorted, the discovery topics the broker may hold
// that reconcile does not publish: all but the bridge's, those of the
// account's locks and those of the visible invitations.
func (b *Bridge) staleDiscovery(locks map[int64]bridge.Lock, visible map[bridge.InviteID]bool) []string {
	bridgeDevice := b.topics.bridgeDevice()
	wanted := func(topic string) bool {
		device, ok := b.topics.deviceOf(topic)
		if !ok {
			return false
		}
		if lock, ok := b.topics.lockOfDevice(device); ok {
			_, listed := locks[lock]
			return listed
		}
		if id, ok := b.topics.inviteOfDevice(device); ok {
			return visible[id]
		}
		return device == bridgeDevice
	}
	var stale []string
	for topic := range b.discovery {
		if !wanted(topic) {
			stale = append(stale, topic)
		}
	}
	slices.Sort(stale)
	return stale
}

// staleStates returns, sorted, the lock and invitation state topics the
// broker may hold that reconcile does not publish: those of locks the
// account does not list and of invitations that are not visible.
func (b *Bridge) staleStates(locks map[int64]bridge.Lock, visible map[bridge.InviteID]bool) []string {
	var stale []string
	for topic := range b.states {
		if id, ok := b.topics.inviteOfState(topic); ok {
			if !visible[id] {
				stale = append(stale, topic)
			}
		} else if b.topics.isLockState(topic) {
			lock, ok := b.topics.lockOfState(topic)
			if _, listed := locks[lock]; !ok || !listed {
				stale = append(stale, topic)
			}
		}
	}
	slices.Sort(stale)
	return stale
}

// applyEvents publishes the current state of each invitation the queued
// events are about and of their locks (lockState), then the public events
// themselves. A lock's device goes out first when the broker lacks it or it
// changed, so that the invitations under it find it. It reads the
// invitations flushEvery at a time.
func (b *Bridge) applyEvents(ctx context.Context, queue []queued) {
	now := b.opts.Now()
	var ids []bridge.InviteID // in the order of the first event about each
	var lockIDs []int64
	seen := make(map[bridge.InviteID]bool, len(queue))
	affected := make(map[int64]bool)
	for _, q := range queue {
		if !seen[q.id] {
			seen[q.id] = true
			ids = append(ids, q.id)
		}
		if !affected[q.lock] {
			affected[q.lock] = true
			lockIDs = append(lockIDs, q.lock)
		}
	}
	locks := lockSet(b.svc.Locks())
	var msgs []pub
	for _, id := range lockIDs {
		lock, ok := locks[id]
		if !ok {
			continue
		}
		var st lockState
		for _, inv := range b.svc.Invitations(bridge.Filter{SmartlockID: id}) {
			st.add(inv)
		}
		msgs = b.spill(ctx, b.putLock(msgs, lock, st, false, false))
	}
	for batch := range slices.Chunk(ids, flushEvery) {
		for _, inv := range b.svc.InvitationsByID(batch) {
			msgs = b.spill(ctx, b.putInvite(msgs, inv, parentLock(inv, locks), now, false))
		}
	}
	msgs = b.putUnmanaged(msgs, locks, false) // an adopted code leaves the list
	for _, q := range queue {
		if q.message != nil {
			msgs = b.spill(ctx, append(msgs, pub{topic: b.topics.event(), payload: q.message}))
		}
	}
	b.flush(ctx, msgs)
}

// flushEvery is how many messages are built before they are published: the
// devices of thousands of invitations go out in batches, never all held in
// memory at once.
const flushEvery = 256

// spill publishes msgs once flushEvery are waiting, and returns the slice to
// build on. The batch is sent before the one sent last is waited for, so the
// broker always has one to acknowledge while the next is built: at most two
// batches are held at once. Messages keep their order across batches.
func (b *Bridge) spill(ctx context.Context, msgs []pub) []pub {
	if len(msgs) < flushEvery {
		return msgs
	}
	b.send(msgs)
	prev := b.inflight
	b.inflight = msgs
	if prev == nil {
		return make([]pub, 0, flushEvery)
	}
	b.settle(ctx, prev)
	clear(prev)
	return prev[:0]
}

// flush publishes a batch and waits until it and any batch spill sent
// before it are acknowledged and recorded.
func (b *Bridge) flush(ctx context.Context, msgs []pub) {
	b.send(msgs)
	if prev := b.inflight; prev != nil {
		b.inflight = nil
		b.settle(ctx, prev)
	}
	b.settle(ctx, msgs)
}

// send publishes a batch (QoS 1, pipelined) without waiting.
func (b *Bridge) send(msgs []pub) {
	for i := range msgs {
		msgs[i].token = b.client.Publish(msgs[i].topic, 1, msgs[i].retained, msgs[i].payload)
	}
}

// settle waits for the broker's acknowledgements of a batch that was sent
// and records what the broker now holds. A message that was not
// acknowledged is remembered as unknown, so the next reconcile sends or
// clears it again.
func (b *Bridge) settle(ctx context.Context, msgs []pub) {
	if len(msgs) == 0 {
		return
	}
	deadline := time.NewTimer(publishTimeout)
	defer deadline.Stop()
	expired := false
	put := make(map[string]string) // the store's record: topic → digest as String spells it
	var del []string
	failed := 0
	var firstErr error
	for _, m := range msgs {
		var err error
		if expired {
			select {
			case <-m.token.Done():
				err = m.token.Error()
			default:
				err = context.DeadlineExceeded
			}
		} else {
			select {
			case <-m.token.Done():
				err = m.token.Error()
			case <-deadline.C:
				expired = true
				err = context.DeadlineExceeded
			}
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		switch m.kind {
		case kindDiscovery:
			switch {
			case err != nil:
				b.discovery[m.topic], put[m.topic] = digest{}, ""
			case m.hash == digest{}:
				delete(b.discovery, m.topic)
				del = append(del, m.topic)
			default:
				b.discovery[m.topic], put[m.topic] = m.hash, m.hash.String()
			}
		case kindState:
			switch {
			case err != nil:
				b.states[m.topic] = digest{}
			case m.hash == digest{}:
				delete(b.states, m.topic)
			default:
				b.states[m.topic] = m.hash
			}
		}
	}
	if failed > 0 {
		b.log.Warn("the broker did not acknowledge some messages; they are retried after reconnecting",
			"failed", failed, "of", len(msgs), "error", firstErr)
	}
	b.log.Debug("published", "messages", len(msgs)-failed, "discovery", len(put), "cleared_discovery", len(del))
	if err := b.store.SetPublishedDiscovery(context.WithoutCancel(ctx), put, del); err != nil {
		b.log.Error("could not record the published discovery topics; stale ones may stay until the next start", "error", err)
	}
}

// ours reports whether a retained topic the scan found is one the bridge
// publishes: a discovery topic of one of its devices or one of its states.
func (b *Bridge) ours(topic string) bool {
	t := b.topics
	return t.ownsDiscovery(topic) || t.isInviteState(topic) || t.isLockState(topic) ||
		topic == t.nukiWeb() || topic == t.keypadUnmanaged()
}

// learn finds out which of our retained messages the broker holds, after
// every (re)connect: it subscribes briefly to every device discovery topic,
// every invitation and lock state topic and the Nuki Web state, then
// publishes a marker to itself; retained messages arrive before the marker.
// known lists the discovery topics we published before (from the store at
// start-up): those the broker does not show count as unknown, so they are
// sent again if wanted and cleared if not.
// This also restores what a broker restart without persistence lost. When
// the scan cannot complete, it keeps what it knew and reports false.
func (b *Bridge) learn(ctx context.Context, known map[string]digest) (complete bool) {
	var mu sync.Mutex
	found := make(map[string]digest)
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	marker := hex.EncodeToString(nonce)
	seen := make(chan struct{}, 1)
	handler := func(_ paho.Client, m paho.Message) {
		if m.Topic() == b.topics.scanMarker() {
			if string(m.Payload()) == marker {
				signal(seen)
			}
			return
		}
		if !m.Retained() || len(m.Payload()) == 0 || !b.ours(m.Topic()) {
			return // other integrations' devices share the discovery prefix
		}
		mu.Lock()
		found[m.Topic()] = hashOf(m.Payload())
		mu.Unlock()
	}
	filters := map[string]byte{
		b.topics.discoveryFilter(): 1, b.topics.stateFilter(): 1, b.topics.lockStateFilter(): 1,
		b.topics.nukiWeb(): 1, b.topics.keypadUnmanaged(): 1, b.topics.scanMarker(): 1,
	}
	if err := waitToken(b.client.SubscribeMultiple(filters, handler), tokenTimeout); err != nil {
		b.log.Warn("could not look for stale retained messages", "error", err)
	} else if err := waitToken(b.client.Publish(b.topics.scanMarker(), 1, false, marker), tokenTimeout); err != nil {
		b.log.Warn("could not look for stale retained messages", "error", err)
	} else {
		select {
		case <-seen:
			// paho runs handlers in goroutines of their own; let the
			// last retained ones finish.
			time.Sleep(scanGrace)
			complete = true
		case <-time.After(tokenTimeout):
			b.log.Warn("the broker did not echo the scan marker; relying on the stored discovery topics")
		case <-ctx.Done():
		}
	}
	if err := waitToken(b.client.Unsubscribe(slices.Collect(maps.Keys(filters))...), tokenTimeout); err != nil {
		b.log.Warn("could not unsubscribe after the scan of retained messages", "error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if complete {
		b.discovery = make(map[string]digest)
		b.states = make(map[string]digest)
	}
	for topic, h := range found {
		if b.topics.ownsDiscovery(topic) {
			b.discovery[topic] = h
		} else {
			b.states[topic] = h
		}
	}
	for topic, h := range known {
		if _, ok := found[topic]; ok {
			continue
		}
		if complete {
			h = digest{}
		} else if _, ok := b.discovery[topic]; ok {
			continue
		}
		b.discovery[topic] = h
	}
	b.log.Debug("scanned retained messages", "discovery", len(b.discovery), "states", len(b.states), "complete", complete)
	return complete
}
