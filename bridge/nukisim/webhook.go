package nukisim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// signatureHeader carries the lowercase hex HMAC-SHA256 of the body.
const signatureHeader = "X-Nuki-Signature-SHA256"

// deliverLater carries out an advanced request after WebhookDelay and posts
// its outcome. It runs until done or until Close.
func (s *Sim) deliverLater(req advancedRequest) {
	release := func() {
		s.mu.Lock()
		for _, id := range req.locks {
			delete(s.state.pending, pair{req.g.accountUserID, id})
		}
		s.mu.Unlock()
	}
	started := s.spawn(func() {
		t := time.NewTimer(s.opts.WebhookDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closing:
			release()
			return
		}
		s.post(authCreationType, req.id, s.completeAdvanced(req))
	})
	if !started {
		release()
	}
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

const authCreationType = "AuthCreation"

// completeAdvanced creates the authorizations of an advanced request, as the
// locks would, and returns the outcome webhook.
func (s *Sim) completeAdvanced(req advancedRequest) wireAuthCreation {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now().UTC()
	out := wireAuthCreation{Type: authCreationType, RequestID: req.id, Success: true}
	for _, lockID := range req.locks {
		delete(s.state.pending, pair{req.g.accountUserID, lockID})
		d := wireAuthDetail{SmartlockID: lockID, ID: s.state.objectID(now)}
		err := s.state.checkAuth(lockID, req.g.accountUserID, bridge.AuthTypeApp)
		switch {
		case err == nil && s.state.locks[lockID].offline:
			d.ErrorCode = "ff"
		case err != nil && s.state.locks[lockID] != nil && s.state.lockAuths[lockID] >= maxAuthsPerLock:
			d.ErrorCode = "0x13"
		case err != nil:
			d.ErrorCode = "ff" // the lock or user went away meanwhile
		default:
			a := s.state.addAuth(bridge.Auth{ID: d.ID, SmartlockID: lockID, AccountUserID: req.g.accountUserID,
				Type: bridge.AuthTypeApp, Name: req.g.name, Enabled: true, RemoteAllowed: req.g.remoteAllowed,
				Access: req.g.access}, now)
			d.ID, d.Success, d.Code = a.ID, true, inviteCode()
		}
		if !d.Success {
			out.Success = false
		}
		out.Detail = append(out.Detail, d)
	}
	return out
}

// notifyDeviceAuth posts a DEVICE_AUTHS notification when enabled.
func (s *Sim) notifyDeviceAuth(a bridge.Auth, deleted bool) {
	if !s.opts.DeviceAuthWebhooks || s.opts.WebhookURL == "" {
		return
	}
	s.spawn(func() {
		s.post("DEVICE_AUTHS", "", wireDeviceAuths{Feature: "DEVICE_AUTHS", Deleted: deleted,
			SmartlockAuth: toWireAuth(&a)})
	})
}

// post signs and delivers one webhook body and records the delivery; the
// HTTP client's timeout bounds it. The body (which may hold invite codes) is
// never logged.
func (s *Sim) post(kind, requestID string, payload any) {
	d := Delivery{Kind: kind, RequestID: requestID, At: s.opts.Now().UTC()}
	defer func() {
		s.mu.Lock()
		s.webhooks = append(s.webhooks, d)
		s.mu.Unlock()
	}()
	if s.opts.WebhookURL == "" {
		d.Error = "no webhook URL configured"
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		d.Error = err.Error()
		return
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		d.Error = err.Error()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signatureHeader, sign(s.opts.WebhookSecret, body))
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		d.Error = err.Error()
		s.log.Warn("webhook delivery failed", "kind", kind, "request_id", requestID, "err", err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	d.Status = resp.StatusCode
	s.log.Info("webhook delivered", "kind", kind, "request_id", requestID, "status", resp.StatusCode)
}

// sign is the lowercase hex HMAC-SHA256 of body keyed with secret.
func sign(secret bridge.Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
