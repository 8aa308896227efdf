package nukisim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// signatureHeader carries the lowercase hex HMAC-SHA256 of the body.
const signatureHeader = "X-Nuki-Signature-SHA256"

const (
	authCreationType   = "AuthCreation"
	deviceAuthsFeature = "DEVICE_AUTHS"
	// maxAttempts is how many times one webhook is posted before the
	// simulator gives up on it.
	maxAttempts         = 5
	defaultWebhookRetry = time.Second
)

// outgoing is a webhook to deliver once s.mu is released.
type outgoing struct {
	kind      string // authCreationType or deviceAuthsFeature
	requestID string // AuthCreation only
	payload   any
	delay     time.Duration // real time to wait before the first attempt
}

// notifyAuthCreation queues the outcome webhook of an advanced request,
// delivered WebhookDelay later. The caller holds s.mu.
func (s *Sim) notifyAuthCreation(req *advancedRequest) {
	out := wireAuthCreation{Type: authCreationType, RequestID: req.id, Success: true, Detail: req.detail}
	for _, d := range req.detail {
		out.Success = out.Success && d.Success
	}
	s.outbox = append(s.outbox, outgoing{kind: authCreationType, requestID: req.id, payload: out,
		delay: s.opts.WebhookDelay})
}

// notifyDeviceAuth queues a DEVICE_AUTHS notification when a webhook URL is
// set. The caller holds s.mu.
func (s *Sim) notifyDeviceAuth(a bridge.Auth, deleted bool) {
	if s.opts.WebhookURL == "" {
		return
	}
	s.outbox = append(s.outbox, outgoing{kind: deviceAuthsFeature, payload: wireDeviceAuths{
		Feature: deviceAuthsFeature, Deleted: deleted, SmartlockAuth: toWireAuth(&a)}})
}

// deliver posts o in the background until the receiver answers 2xx: an
// attempt answered otherwise, or failed, is repeated after WebhookRetry,
// then twice as long each time, up to maxAttempts in all. Close ends the
// waiting; a post under way is let finish.
func (s *Sim) deliver(o outgoing) {
	s.spawn(func() {
		wait, backoff := o.delay, s.opts.WebhookRetry
		for attempt := 1; ; attempt++ {
			if wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return
				}
			}
			if s.post(o, attempt) || attempt == maxAttempts {
				return
			}
			wait, backoff = backoff, 2*backoff
		}
	})
}

// spawn runs fn in a goroutine Close waits for, unless Close was called.
func (s *Sim) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// post signs and delivers one webhook body, records the attempt and reports
// whether it was answered 2xx; the HTTP client's timeout bounds it. The body
// (which may hold invite codes) is never logged.
func (s *Sim) post(o outgoing, attempt int) (ok bool) {
	d := Delivery{Kind: o.kind, RequestID: o.requestID, Attempt: attempt, At: s.now()}
	defer func() {
		s.mu.Lock()
		s.webhooks = append(s.webhooks, d)
		s.mu.Unlock()
	}()
	if s.opts.WebhookURL == "" {
		d.Error = "no webhook URL configured"
		return true // nowhere to deliver to: nothing to repeat
	}
	body, err := json.Marshal(o.payload)
	if err != nil {
		d.Error = err.Error()
		return true
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		d.Error = err.Error()
		return true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signatureHeader, sign(s.opts.WebhookSecret, body))
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		d.Error = err.Error()
		s.log.Warn("webhook delivery failed", "kind", o.kind, "request_id", o.requestID, "attempt", attempt,
			"err", err)
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	d.Status = resp.StatusCode
	ok = resp.StatusCode >= 200 && resp.StatusCode < 300
	level := slog.LevelInfo
	if !ok {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "webhook delivered", "kind", o.kind, "request_id", o.requestID,
		"attempt", attempt, "status", resp.StatusCode)
	return ok
}

// sign is the lowercase hex HMAC-SHA256 of body keyed with secret.
func sign(secret bridge.Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
