package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Limits of the event stream.
const (
	maxStreams = 64  // concurrent event streams
	maxPending = 256 // invitations queued per stream before it is told to resync
)

// hub fans the Service's events out to the event streams. It subscribes to
// the Service while at least one stream is open. Its Subscriber methods never
// block: each stream keeps only the latest state of each changed invitation,
// and a stream that falls too far behind is told to reload instead.
type hub struct {
	svc Service

	mu      sync.Mutex
	streams map[*stream]struct{}
	unsub   func()
}

var _ bridge.Subscriber = (*hub)(nil)

func newHub(svc Service) *hub {
	return &hub{svc: svc, streams: map[*stream]struct{}{}}
}

// stream is what one client has not been sent yet.
type stream struct {
	wake chan struct{} // capacity 1: "something is pending"

	mu       sync.Mutex
	invs     map[bridge.InviteID]bridge.Invitation
	order    []bridge.InviteID
	state    *bridge.SyncState
	overflow bool
}

func (st *stream) poke() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what is pending.
func (st *stream) take() (invs []bridge.Invitation, state *bridge.SyncState, overflow bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range st.order {
		invs = append(invs, st.invs[id])
	}
	state, overflow = st.state, st.overflow
	st.invs, st.order, st.state, st.overflow = nil, nil, nil, false
	return invs, state, overflow
}

// add registers a stream, subscribing to the Service for the first one. It
// returns false when too many streams are open.
func (h *hub) add() (*stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) >= maxStreams {
		return nil, false
	}
	st := &stream{wake: make(chan struct{}, 1)}
	h.streams[st] = struct{}{}
	if h.unsub == nil {
		h.unsub = h.svc.Subscribe(h)
	}
	return st, true
}

// remove drops a stream, unsubscribing after the last one.
func (h *hub) remove(st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, st)
	if len(h.streams) == 0 && h.unsub != nil {
		h.unsub()
		h.unsub = nil
	}
}

func (h *hub) each(f func(*stream)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.streams {
		f(st)
	}
}

// InvitationEvents queues the changed invitations on every stream.
func (h *hub) InvitationEvents(events []bridge.Event) {
	h.each(func(st *stream) {
		st.mu.Lock()
		for _, ev := range events {
			inv := ev.Invitation
			inv.History = nil
			if st.overflow {
				break
			}
			if st.invs == nil {
				st.invs = map[bridge.InviteID]bridge.Invitation{}
			}
			if _, queued := st.invs[inv.ID]; !queued {
				if len(st.order) >= maxPending {
					st.overflow, st.invs, st.order = true, nil, nil
					break
				}
				st.order = append(st.order, inv.ID)
			}
			st.invs[inv.ID] = inv
		}
		st.mu.Unlock()
		st.poke()
	})
}

// SyncStateChanged queues the latest sync state on every stream.
func (h *hub) SyncStateChanged(state bridge.SyncState) {
	h.each(func(st *stream) {
		st.mu.Lock()
		st.state = &state
		st.mu.Unlock()
		st.poke()
	})
}

// events streams "invitation", "state" and "resync" server-sent events until
// the client leaves or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	st, ok := s.hub.add()
	if !ok {
		writeProblem(w, problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Title: "Too many event streams",
			Detail: "too many pages are open; close some and reload", retryAfter: 10 * time.Second})
		return
	}
	defer s.hub.remove(st)
	_ = rc.SetWriteDeadline(time.Time{})

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		return err
	}
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return
	}
	if send("state", stateOf(s.svc.SyncState())) != nil || rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-st.wake:
			invs, state, overflow := st.take()
			if overflow {
				if send("resync", map[string]string{}) != nil {
					return
				}
			}
			for _, inv := range invs {
				if send("invitation", viewOf(inv)) != nil {
					return
				}
			}
			if state != nil && send("state", stateOf(*state)) != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
