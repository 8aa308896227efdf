package mqtt

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// entries shows what the inbox queued as "<id> <lock> <message>".
func entries(queue []queued) []string {
	out := make([]string, len(queue))
	for i, e := range queue {
		out[i] = fmt.Sprintf("%s %d %s", e.id, e.lock, e.message)
	}
	return out
}

func TestInboxKeepsWhatTheLoopNeeds(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	alice := bridge.Invitation{ID: "101-201", SmartlockID: 101, Name: "Alice", LockName: "Front door", Email: "alice@example.com"}
	bob := bridge.Invitation{ID: "102-202", SmartlockID: 102, Name: "Bob", LockName: "Back door", Email: "bob@example.com"}
	accepted := bridge.Event{Type: bridge.EventAccepted, At: at, Invitation: bob}

	t.Run("one entry per invitation, public events each", func(t *testing.T) {
		q := inbox{wake: make(chan struct{}, 1)}
		q.addEvents([]bridge.Event{
			{Type: bridge.EventChanged, At: at, Invitation: alice},
			{Type: bridge.EventEvidence, At: at, Invitation: bob},
		})
		q.addEvents([]bridge.Event{
			{Type: bridge.EventChanged, At: at, Invitation: alice}, // Alice is queued already
			accepted,
			{Type: bridge.EventChanged, At: at, Invitation: bob},
		})
		queue, _, _, dropped := q.take()
		want := []string{"101-201 101 ", "102-202 102 ", "102-202 102 " + string(eventPayload(accepted))}
		if got := entries(queue); !slices.Equal(got, want) || dropped != 0 {
			t.Errorf("queued %q, %d dropped; want %q, none dropped", got, dropped, want)
		}
		q.addEvents([]bridge.Event{{Type: bridge.EventChanged, At: at, Invitation: alice}})
		if queue, _, _, _ := q.take(); len(queue) != 1 {
			t.Errorf("after take, an event about Alice queued %q, want her again", entries(queue))
		}
	})

	t.Run("limit", func(t *testing.T) {
		q := inbox{wake: make(chan struct{}, 1)}
		events := make([]bridge.Event, inboxLimit+2)
		for i := range events {
			inv := bridge.Invitation{ID: bridge.MakeInviteID(101, int64(1000+i)), SmartlockID: 101}
			events[i] = bridge.Event{Type: bridge.EventChanged, At: at, Invitation: inv}
		}
		q.addEvents(events)
		q.addEvents(events[:1]) // about an invitation dropped: queued again
		queue, _, _, dropped := q.take()
		if len(queue) != inboxLimit || dropped != 3 {
			t.Fatalf("%d queued, %d dropped; want %d queued, 3 dropped", len(queue), dropped, inboxLimit)
		}
		if first, last := queue[0].id, queue[len(queue)-1].id; first != events[3].Invitation.ID || last != events[0].Invitation.ID {
			t.Errorf("queue runs from %s to %s, want from %s to %s", first, last, events[3].Invitation.ID, events[0].Invitation.ID)
		}
	})

	t.Run("closed", func(t *testing.T) {
		q := inbox{wake: make(chan struct{}, 1)}
		q.close()
		q.addEvents([]bridge.Event{accepted})
		if queue, _, _, _ := q.take(); len(queue) != 0 {
			t.Errorf("a closed inbox queued %q", entries(queue))
		}
	})
}
