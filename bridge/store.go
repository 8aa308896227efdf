package bridge

import (
	"context"
	"time"
)

// State is everything the store holds, as loaded at start-up. The Service
// keeps it in memory and changes it only after a Commit succeeded.
type State struct {
	Locks       map[int64]Lock
	Users       map[int64]User
	Auths       map[string]Auth
	Invitations map[InviteID]Invitation
	Codes       map[InviteID]Secret
	Requests    map[string]Request
}

// Request records a create request, so the same request_id never creates
// twice.
type Request struct {
	ID      string     `json:"id"`
	At      time.Time  `json:"at"`
	Invites []InviteID `json:"invites"`
}

// Batch is a set of changes written in one transaction: all or nothing.
type Batch struct {
	Locks          []Lock
	DeleteLocks    []int64
	Users          []User
	DeleteUsers    []int64
	Auths          []Auth
	DeleteAuths    []string
	Invitations    []Invitation
	Codes          map[InviteID]Secret
	DeleteCodes    []InviteID
	Requests       []Request
	DeleteRequests []string
}

// Apply makes b's changes to st, writes before deletes within each kind (as
// the store does). The maps must not be nil.
func (st *State) Apply(b *Batch) {
	apply(st.Locks, b.Locks, func(l Lock) int64 { return l.ID }, b.DeleteLocks)
	apply(st.Users, b.Users, func(u User) int64 { return u.ID }, b.DeleteUsers)
	apply(st.Auths, b.Auths, func(a Auth) string { return a.ID }, b.DeleteAuths)
	apply(st.Invitations, b.Invitations, func(inv Invitation) InviteID { return inv.ID }, nil)
	for id, code := range b.Codes {
		st.Codes[id] = code
	}
	apply(st.Codes, nil, nil, b.DeleteCodes)
	apply(st.Requests, b.Requests, func(r Request) string { return r.ID }, b.DeleteRequests)
}

func apply[K comparable, V any](m map[K]V, puts []V, key func(V) K, dels []K) {
	for _, v := range puts {
		m[key(v)] = v
	}
	for _, k := range dels {
		delete(m, k)
	}
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.Locks)+len(b.DeleteLocks)+len(b.Users)+len(b.DeleteUsers)+len(b.Auths)+
		len(b.DeleteAuths)+len(b.Invitations)+len(b.Codes)+len(b.DeleteCodes)+
		len(b.Requests)+len(b.DeleteRequests) == 0
}

// Store persists the State. Load returns maps owned by the caller. Commit
// writes a Batch in one durable transaction; when it returns nil the changes
// survive a crash, when it returns an error nothing was written.
type Store interface {
	Load(ctx context.Context) (State, error)
	Commit(ctx context.Context, b Batch) error
}
