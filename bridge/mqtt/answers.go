package mqtt

import (
	"context"
	"fmt"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// commandQueue is how many commands may wait for the command worker, which
// carries them out one at a time. A command that arrives while this many
// wait is not queued: it is answered at once on <base>/result with ok false
// and an error starting "busy:", so that every command gets an answer.
const commandQueue = 256

// refusalQueue is how many immediate refusals (busy, payload too large) may
// wait for the answer publisher. Each is a small result, its fields within
// their limits. The publisher sends them as fast as the broker takes them,
// which is as fast as the broker brings commands in on the same connection:
// this many are outstanding only when the broker delivers faster than it
// accepts. A refusal beyond it is counted and reported in the log.
const refusalQueue = 4096

// refusalWindow is how many refusals are published before waiting for the
// broker's acknowledgements.
const refusalWindow = 64

// refusal is an answer given without the command worker.
type refusal struct {
	result
	busy bool // the queue was full; logged as a count, not one by one
}

// refuse answers a command at once, without the worker. It never blocks:
// it is called from paho's message handler.
func (b *Bridge) refuse(r refusal) {
	select {
	case b.refusals <- r:
	default:
		b.unanswered.Add(1)
		signal(b.lost)
	}
}

// busy is the answer to a command that finds the queue full.
func (b *Bridge) busy(c command) refusal {
	r, _, _ := b.route(c.topic)
	r.RequestID = requestIDOf(c.payload)
	r = fail(r, fmt.Errorf("busy: %d commands are waiting; try again in a moment", len(b.commands)))
	return refusal{result: r, busy: true}
}

// serveAnswers is the answer publisher: it publishes the refusals queued by
// refuse, a window at a time, until ctx ends. Busy refusals are logged as one
// count per burst.
func (b *Bridge) serveAnswers(ctx context.Context) {
	type sent struct {
		refusal
		tok paho.Token
	}
	window := make([]sent, 0, refusalWindow)
	busy := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.lost:
		case r := <-b.refusals:
			tok := b.client.Publish(b.topics.result(), 1, false, mustJSON(r.result))
			window = append(window, sent{r, tok})
			if len(window) < refusalWindow && len(b.refusals) > 0 {
				continue
			}
		}
		failed := 0
		for _, s := range window {
			if err := waitToken(s.tok, tokenTimeout); err != nil {
				failed++
			}
			if s.busy {
				busy++
			} else {
				b.log.With("command", s.Command, "invite_id", s.InviteID, "request_id", s.RequestID).
					Warn("command refused", "error", s.Error)
			}
		}
		window = window[:0]
		if failed > 0 {
			b.log.Warn("could not publish some command results", "count", failed)
		}
		if busy > 0 && len(b.refusals) == 0 {
			b.log.Warn("commands refused as busy: too many were waiting", "count", busy, "queue", commandQueue)
			busy = 0
		}
		if n := b.unanswered.Swap(0); n > 0 {
			b.log.Error("commands got no answer: the broker delivered them faster than it took the answers", "count", n)
		}
	}
}
