package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
type envelope struct {
	RequestID string          `json:"request_id"`
	Delivery  bridge.Delivery `json:"delivery"` // resend only
}

// createPayload is bridge.CreateRequest's JSON plus the access window.
type createPayload struct {
	bridge.CreateRequest
	AllowedFrom      string          `json:"allowed_from"`       // RFC 3339
	AllowedUntil     string          `json:"allowed_until"`      // RFC 3339
	AllowedWeekdays  json.RawMessage `json:"allowed_weekdays"`   // ["mon","tue"] or Nuki's bitmask
	AllowedFromTime  string          `json:"allowed_from_time"`  // "HH:MM"
	AllowedUntilTime string          `json:"allowed_until_time"` // "HH:MM"
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
	} else {
		log.Warn("command refused", "error", r.Error)
	}
}

// execute parses a command and carries it out. It never panics on input.
func (b *Bridge) execute(ctx context.Context, c command) result {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	rel := strings.TrimPrefix(c.topic, b.topics.base+"/")
	switch rel {
	case "sync":
		r := result{Command: "sync"}
		if _, err := b.envelope(&r, c.payload); err != nil {
			return r
		}
		b.svc.RequestSync()
		r.OK = true
		return r
	case "invite/create":
		return b.create(ctx, c.payload)
	}
	r := result{Command: rel}
	id, action, ok := strings.Cut(strings.TrimPrefix(rel, "invite/"), "/")
	if !strings.HasPrefix(rel, "invite/") || !ok {
		r.Error = fmt.Sprintf("unknown command topic %q", c.topic)
		return r
	}
	r.Command, r.InviteID = action, bridge.InviteID(id)
	env, err := b.envelope(&r, c.payload)
	if err != nil {
		return r
	}
	if _, _, err := bridge.ParseInviteID(id); err != nil {
		return fail(r, err)
	}
	switch action {
	case "resend":
		if env.Delivery != "" && !env.Delivery.Valid() {
			return fail(r, fmt.Errorf("%w: delivery must be %q or %q, not %q", bridge.ErrInvalid, bridge.DeliveryNuki, bridge.DeliveryCustom, env.Delivery))
		}
		_, err = b.svc.Resend(ctx, r.InviteID, bridge.ResendOptions{Delivery: env.Delivery, Actor: Actor})
	case "revoke":
		_, err = b.svc.Revoke(ctx, r.InviteID, Actor)
	case "code/get":
		err = b.revealCode(ctx, r.InviteID)
	default:
		err = fmt.Errorf("unknown command %q: use resend, revoke or code/get", action)
	}
	if err != nil {
		return fail(r, err)
	}
	r.OK = true
	return r
}

// envelope reads the optional JSON payload; on bad JSON it fills in r's
// error and returns it.
func (b *Bridge) envelope(r *result, payload []byte) (envelope, error) {
	var env envelope
	if len(bytes.TrimSpace(payload)) == 0 {
		return env, nil
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		*r = fail(*r, fmt.Errorf("%w: the payload must be empty or a JSON object: %v", bridge.ErrInvalid, err))
		return env, err
	}
	r.RequestID = env.RequestID
	return env, nil
}

func fail(r result, err error) result {
	r.OK = false
	r.Error = err.Error()
	if errors.Is(err, bridge.ErrDisabled) && r.Command == "code/get" {
		r.Error = "refused: revealing invite codes is disabled; set EXPOSE_CODES=true to allow it"
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

func (b *Bridge) create(ctx context.Context, payload []byte) result {
	r := result{Command: "create"}
	if len(bytes.TrimSpace(payload)) == 0 {
		return fail(r, fmt.Errorf("%w: create needs a JSON payload with at least email, name and smartlock_ids", bridge.ErrInvalid))
	}
	var p createPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		// Still answer with the request id when it can be read.
		var env envelope
		_ = json.Unmarshal(payload, &env)
		r.RequestID = env.RequestID
		return fail(r, fmt.Errorf("%w: the payload is not a create request: %v", bridge.ErrInvalid, err))
	}
	r.RequestID = p.RequestID
	access, err := p.access()
	if err != nil {
		return fail(r, err)
	}
	req := p.CreateRequest
	req.Access, req.Actor = access, Actor
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

// access turns the payload's access window into Nuki's form.
func (p createPayload) access() (bridge.Access, error) {
	var a bridge.Access
	var err error
	if a.From, err = parseTime("allowed_from", p.AllowedFrom); err != nil {
		return a, err
	}
	if a.Until, err = parseTime("allowed_until", p.AllowedUntil); err != nil {
		return a, err
	}
	if a.WeekDays, err = parseWeekdays(p.AllowedWeekdays); err != nil {
		return a, err
	}
	if a.FromTime, err = parseClock("allowed_from_time", p.AllowedFromTime); err != nil {
		return a, err
	}
	if a.UntilTime, err = parseClock("allowed_until_time", p.AllowedUntilTime); err != nil {
		return a, err
	}
	return a, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time such as 2026-05-01T18:00:00+02:00", bridge.ErrInvalid, field, s)
	}
	return t, nil
}

// weekdayBits are Nuki's weekday bits: 64 Monday … 1 Sunday.
var weekdayBits = map[string]int{
	"mon": 64, "monday": 64, "tue": 32, "tuesday": 32, "wed": 16, "wednesday": 16,
	"thu": 8, "thursday": 8, "fri": 4, "friday": 4, "sat": 2, "saturday": 2, "sun": 1, "sunday": 1,
}

// parseWeekdays accepts a list of day names (mon, Tuesday, …) or Nuki's
// bitmask; absent or null means every day (0).
func parseWeekdays(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var mask int
	if err := json.Unmarshal(raw, &mask); err == nil {
		if mask < 0 || mask > 127 {
			return 0, fmt.Errorf("%w: allowed_weekdays %d is not a Nuki weekday bitmask (0-127, 64 = Monday … 1 = Sunday)", bridge.ErrInvalid, mask)
		}
		return mask, nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return 0, fmt.Errorf("%w: allowed_weekdays must be a list of day names such as [\"mon\",\"tue\"] or a bitmask", bridge.ErrInvalid)
	}
	for _, n := range names {
		bit, ok := weekdayBits[strings.ToLower(strings.TrimSpace(n))]
		if !ok {
			return 0, fmt.Errorf("%w: allowed_weekdays: %q is not a day (mon, tue, wed, thu, fri, sat, sun)", bridge.ErrInvalid, n)
		}
		mask |= bit
	}
	return mask, nil
}

// parseClock reads "HH:MM" as minutes from midnight.
func parseClock(field, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%w: %s %q is not a time of day such as 08:30", bridge.ErrInvalid, field, s)
	}
	return hh*60 + mm, nil
}
