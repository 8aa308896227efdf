package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// command is a message on a command topic, as received.
type command struct {
	topic   string
	payload []byte
}

// result is the one answer every command gets on <base>/result.
type result struct {
	RequestID string            `json:"request_id"`
	Command   string            `json:"command"`
	InviteID  bridge.InviteID   `json:"invite_id"`
	OK        bool              `json:"ok"`
	Error     string            `json:"error"`
	InviteIDs []bridge.InviteID `json:"invite_ids,omitempty"` // create only
}

// envelope is the optional JSON payload of sync, resend, revoke and code/get.
// A payload that is not a JSON object (empty, "PRESS", anything) is a bare
// command without options.
// It is read strictly: unknown fields and values of the wrong type are
// refused, and delivery and force only go with resend.
type envelope struct {
	RequestID string          `json:"request_id"`
	Delivery  bridge.Delivery `json:"delivery"` // resend only
	// Force re-sends an accepted invitation too (resend only); without it
	// the Service refuses.
	Force bool `json:"force"`
	// ConfirmHeld carries out a held sync (sync only).
	ConfirmHeld bool `json:"confirm_held"`
}

// serveCommands is the command worker: it runs one command at a time until
// ctx ends.
func (b *Bridge) serveCommands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.commands:
			b.answer(b.execute(ctx, c))
		}
	}
}

func (b *Bridge) answer(r result) {
	log := b.log.With("command", r.Command, "invite_id", r.InviteID, "request_id", r.RequestID)
	if err := waitToken(b.client.Publish(b.topics.result(), 1, false, mustJSON(r)), tokenTimeout); err != nil {
		log.Warn("could not publish a command result", "error", err)
	}
	if r.OK {
		log.Info("command done")
		return
	}
	log.Warn("command refused", "error", r.Error)
	// Home Assistant's buttons and automations see no result topic: the
	// refusal also goes to the bridge's event entity.
	refused := refusedEvent{EventType: eventCommandRefused, Command: r.Command, InviteID: r.InviteID,
		RequestID: r.RequestID, Error: r.Error}
	if err := waitToken(b.client.Publish(b.topics.event(), 1, false, mustJSON(refused)), tokenTimeout); err != nil {
		log.Warn("could not publish the refusal event", "error", err)
	}
}

// eventCommandRefused is the event type of a refused command on
// <base>/event and the bridge's event entity.
const eventCommandRefused = "command_refused"

// refusedEvent tells Home Assistant that a command was refused, and why.
type refusedEvent struct {
	EventType string          `json:"event_type"`
	Command   string          `json:"command"`
	InviteID  bridge.InviteID `json:"invite_id"`
	RequestID string          `json:"request_id"`
	Error     string          `json:"error"`
}

// execute parses a command and carries it out. It never panics on input.
func (b *Bridge) execute(ctx context.Context, c command) result {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	r, action, routeErr := b.route(c.topic)
	if len(c.payload) > maxPayload {
		return fail(r, errTooLarge(len(c.payload)))
	}
	switch action {
	case "sync":
		env, err := b.envelope(&r, c.payload)
		if err != nil {
			return r
		}
		if err := env.withoutResendFields("sync"); err != nil {
			return fail(r, err)
		}
		if env.ConfirmHeld {
			if err := b.svc.ConfirmHeldSync(); err != nil {
				return fail(r, err)
			}
			r.OK = true
			return r
		}
		b.svc.RequestSync()
		r.OK = true
		return r
	case "create":
		return b.create(ctx, r, c.payload)
	case "adopt":
		return b.adopt(ctx, r, c.payload)
	case "":
		return fail(r, routeErr)
	}
	env, err := b.envelope(&r, c.payload)
	if err != nil {
		return r
	}
	if routeErr != nil {
		return fail(r, routeErr)
	}
	if _, _, err := bridge.ParseInviteID(string(r.InviteID)); err != nil {
		return fail(r, err)
	}
	if action == "revoke" || action == "code/get" {
		if err := env.withoutResendFields(action); err != nil {
			return fail(r, err)
		}
	}
	switch action {
	case "resend":
		if env.Delivery != "" && !env.Delivery.Valid() {
			return fail(r, fmt.Errorf("%w: delivery must be %q or %q, not %s", bridge.ErrInvalid, bridge.DeliveryNuki, bridge.DeliveryCustom, quote(string(env.Delivery))))
		}
		_, err = b.svc.Resend(ctx, r.InviteID, bridge.ResendOptions{Delivery: env.Delivery, Force: env.Force, Actor: Actor})
	case "revoke":
		_, err = b.svc.Revoke(ctx, r.InviteID, Actor)
	case "code/get":
		err = b.revealCode(ctx, r.InviteID)
	default:
		err = fmt.Errorf("unknown command %s: use resend, revoke or code/get", quote(action))
	}
	if err != nil {
		return fail(r, err)
	}
	r.OK = true
	return r
}

// route reads a command topic: the answer to fill in (its command name and
// invitation id cut to their limits) and the action, "sync", "create", or
// what follows the invitation id. action is "" for a topic that names no
// command at all, and err then says so; err is also set for an invitation id
// too long to be one, which the answer leaves out.
func (b *Bridge) route(topic string) (r result, action string, err error) {
	rel := strings.TrimPrefix(topic, b.topics.base+"/")
	switch rel {
	case "sync":
		return result{Command: "sync"}, "sync", nil
	case "invite/create":
		return result{Command: "create"}, "create", nil
	case "keypad/adopt":
		return result{Command: "keypad/adopt"}, "adopt", nil
	}
	id, action, ok := strings.Cut(strings.TrimPrefix(rel, "invite/"), "/")
	if !strings.HasPrefix(rel, "invite/") || !ok || action == "" {
		return result{Command: clip(rel, quoteLen)}, "", fmt.Errorf("unknown command topic %s", quote(topic))
	}
	r = result{Command: clip(action, quoteLen), InviteID: bridge.InviteID(id)}
	if len(id) > maxInviteID {
		r.InviteID = ""
		err = fmt.Errorf("%w: %s is not an invitation id (expected <smartlockId>-<accountUserId>)", bridge.ErrInvalid, quote(id))
	}
	return r, action, err
}

// envelope reads the optional JSON payload strictly; when it cannot, it
// fills in r's error (and the request id, if that can be read) and returns
// the error.
func (b *Bridge) envelope(r *result, payload []byte) (envelope, error) {
	var env envelope
	if trimmed := bytes.TrimSpace(payload); len(trimmed) == 0 || trimmed[0] != '{' {
		// A bare command: Home Assistant's MQTT buttons send "PRESS", and
		// users type anything. Only a JSON object carries options.
		return env, nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	err := dec.Decode(&env)
	if err == nil {
		if _, end := dec.Token(); end != io.EOF {
			err = errors.New("only one JSON object is allowed")
		}
	}
	if err != nil {
		r.RequestID = requestIDOf(payload)
		*r = fail(*r, fmt.Errorf("%w: the payload must be a JSON object with request_id (resend also takes delivery and force): %s",
			bridge.ErrInvalid, bridge.JSONProblem(err)))
		return envelope{}, err
	}
	if err := checkRequestID(env.RequestID); err != nil {
		*r = fail(*r, err)
		return envelope{}, err
	}
	r.RequestID = env.RequestID
	return env, nil
}

// withoutResendFields refuses delivery and force on a command other than
// resend, rather than ignoring what the sender meant.
func (env envelope) withoutResendFields(command string) error {
	switch {
	case env.Delivery != "":
		return fmt.Errorf("%w: delivery applies to resend only, not to %s", bridge.ErrInvalid, command)
	case env.Force:
		return fmt.Errorf("%w: force applies to resend only, not to %s", bridge.ErrInvalid, command)
	case env.ConfirmHeld && command != "sync":
		return fmt.Errorf("%w: confirm_held applies to sync only, not to %s", bridge.ErrInvalid, command)
	}
	return nil
}

// fail turns r into a refusal with err's text, cut to maxError characters
// (the Service may name every problem of a long request at once).
func fail(r result, err error) result {
	r.OK = false
	r.Error = clip(err.Error(), maxError)
	if errors.Is(err, bridge.ErrDisabled) && r.Command == "code/get" {
		r.Error = "refused: " + r.Error // the Service names the option that allows it
	}
	return r
}

// revealCode publishes the code, once and not retained, on the invitation's
// code topic. This is the only place a code leaves the process over MQTT.
func (b *Bridge) revealCode(ctx context.Context, id bridge.InviteID) error {
	code, err := b.svc.RevealCode(ctx, id, Actor)
	if err != nil {
		return err
	}
	msg := mustJSON(codeMessage{InviteID: id, Code: code.Code.Reveal(), ExpiresAt: timestamp(code.ExpiresAt)})
	if err := waitToken(b.client.Publish(b.topics.inviteCode(id), 1, false, msg), tokenTimeout); err != nil {
		return fmt.Errorf("could not publish the code: %w", err)
	}
	return nil
}

// create reads a create request, its fields bounded before anything else
// reads them, and asks the Service. r is the answer route filled in.
func (b *Bridge) create(ctx context.Context, r result, payload []byte) result {
	if len(bytes.TrimSpace(payload)) == 0 {
		return fail(r, fmt.Errorf("%w: create needs a JSON payload with at least email, name and smartlock_ids", bridge.ErrInvalid))
	}
	// Still answer with the request id when it can be read.
	r.RequestID = requestIDOf(payload)
	if err := checkCreateFields(payload); err != nil {
		return fail(r, err)
	}
	var req bridge.CreateRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		if !errors.Is(err, bridge.ErrInvalid) { // not even JSON
			err = fmt.Errorf("%w: the payload is not a JSON create request: %s", bridge.ErrInvalid, bridge.JSONProblem(err))
		}
		return fail(r, err)
	}
	r.RequestID = req.RequestID
	req.Actor = Actor
	invs, err := b.svc.Create(ctx, req)
	for _, inv := range invs {
		r.InviteIDs = append(r.InviteIDs, inv.ID)
	}
	if err != nil {
		return fail(r, err)
	}
	r.OK = true
	return r
}

// adoptRequest is the payload of keypad/adopt: which keypad code made
// elsewhere, as <base>/keypad/unmanaged lists it, to take on.
type adoptRequest struct {
	RequestID   string `json:"request_id"`
	SmartlockID int64  `json:"smartlock_id"`
	AuthID      string `json:"auth_id"`
}

// adopt reads a keypad/adopt request strictly and asks the Service to take
// the code on; the answer names the new keypad code's id. r is the answer
// route filled in.
func (b *Bridge) adopt(ctx context.Context, r result, payload []byte) result {
	if trimmed := bytes.TrimSpace(payload); len(trimmed) == 0 || trimmed[0] != '{' {
		return fail(r, fmt.Errorf("%w: keypad/adopt needs a JSON object with smartlock_id and auth_id", bridge.ErrInvalid))
	}
	r.RequestID = requestIDOf(payload)
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var req adoptRequest
	err := dec.Decode(&req)
	if err == nil {
		if _, end := dec.Token(); end != io.EOF {
			err = errors.New("only one JSON object is allowed")
		}
	}
	if err != nil {
		return fail(r, fmt.Errorf("%w: the payload must be a JSON object with smartlock_id, auth_id and request_id: %s",
			bridge.ErrInvalid, bridge.JSONProblem(err)))
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return fail(r, err)
	}
	r.RequestID = req.RequestID
	switch {
	case req.SmartlockID <= 0:
		return fail(r, fmt.Errorf("%w: smartlock_id is required: the lock id <base>/keypad/unmanaged lists with the code", bridge.ErrInvalid))
	case req.AuthID == "":
		return fail(r, fmt.Errorf("%w: auth_id is required: the id <base>/keypad/unmanaged lists with the code", bridge.ErrInvalid))
	case len(req.AuthID) > maxAuthID:
		return fail(r, fmt.Errorf("%w: auth_id %s has %d characters; at most %d are allowed", bridge.ErrInvalid, quote(req.AuthID), len(req.AuthID), maxAuthID))
	}
	inv, err := b.svc.AdoptKeypadCode(ctx, req.SmartlockID, req.AuthID, Actor)
	if err != nil {
		return fail(r, err)
	}
	r.InviteID, r.OK = inv.ID, true
	return r
}
