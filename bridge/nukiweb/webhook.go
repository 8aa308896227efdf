package nukiweb

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// SignatureHeader carries the lowercase hex HMAC-SHA256 of a webhook's raw
// body, keyed with the webhook secret.
const SignatureHeader = "X-Nuki-Signature-SHA256"

// Sign returns the value of SignatureHeader for body.
func Sign(secret bridge.Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// WebhookSink receives what the webhooks say. bridge.Service satisfies it.
// HandleAuthCreation returns an error matching bridge.ErrNotFound for an
// unknown or already handled request id, and one matching bridge.ErrInvalid
// for an outcome it refuses; any other error is a failure of its own (e.g.
// the store), after which Nuki should deliver again.
type WebhookSink interface {
	HandleAuthCreation(ctx context.Context, r bridge.AuthCreation) error
	RequestSync()
}

// WebhookOptions tunes the webhook handler. Zero values take the defaults.
type WebhookOptions struct {
	Logger *slog.Logger
	Now    func() time.Time
	// MaxBody is the largest body accepted; larger ones get 413. 64 KiB.
	MaxBody int64
	// ReplayWindow is how long an accepted body is remembered; the same body
	// again within it is answered 200 and ignored. 24h.
	ReplayWindow time.Duration
	// ReplayMax bounds how many bodies are remembered; the oldest go first.
	// 10,000.
	ReplayMax int
}

// NewWebhookHandler returns the handler for Nuki Web's webhooks (POST).
//
// A body must carry a valid SignatureHeader for secret, else 401 and nothing
// happens; with an empty secret every request gets 401. A body over MaxBody
// gets 413 before its signature can be checked.
//
// Every authentic delivery is answered 200, since Nuki counts any other
// answer as a failed delivery, repeats it and may deactivate the webhook. So
// 200 also goes, with nothing done, to a repeat of a recently accepted body,
// to an AuthCreation whose request id the sink does not know or has handled
// already, to an outcome the sink refuses, and to a payload that is malformed
// or neither an AuthCreation nor a feature notification. The one exception
// is a failure of the sink's own (e.g. its store): 500, and the body is
// forgotten so that Nuki's repeat is handled.
//
// AuthCreation outcomes go to sink.HandleAuthCreation; DEVICE_AUTHS and
// ACCOUNT_USER notifications to sink.RequestSync; other features are
// acknowledged and ignored. Bodies and invite codes are never logged.
func NewWebhookHandler(secret bridge.Secret, sink WebhookSink, opts WebhookOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = 24 * time.Hour
	}
	if opts.ReplayMax <= 0 {
		opts.ReplayMax = 10_000
	}
	return &webhookHandler{
		secret: secret, sink: sink, opts: opts,
		log:  opts.Logger.With("component", "nukiweb.webhook"),
		seen: newReplayCache(opts.ReplayWindow, opts.ReplayMax),
	}
}

type webhookHandler struct {
	secret bridge.Secret
	sink   WebhookSink
	opts   WebhookOptions
	log    *slog.Logger
	seen   *replayCache
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if !h.validSignature(r.Header.Get(SignatureHeader), body) {
		h.log.Warn("webhook refused: missing or bad signature", "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	digest := sha256.Sum256(body)
	now := h.opts.Now()
	if !h.seen.reserve(digest, now) {
		h.log.Debug("webhook repeat ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.handle(r.Context(), body); err != nil {
		h.seen.release(digest)
		http.Error(w, "not applied", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *webhookHandler) validSignature(got string, body []byte) bool {
	if h.secret.IsZero() || got == "" {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(h.secret.Reveal()))
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// handle acts on a verified body. It returns an error only when the sink
// failed on its own account and the delivery should come again.
func (h *webhookHandler) handle(ctx context.Context, body []byte) error {
	p, err := parseWebhook(body)
	if err != nil {
		h.log.Warn("webhook ignored: malformed payload", "err", err)
		return nil
	}
	switch {
	case p.Type == authCreationType:
		ac := authCreation(p)
		err := h.sink.HandleAuthCreation(ctx, ac)
		switch {
		case errors.Is(err, bridge.ErrNotFound):
			h.log.Debug("webhook ignored: request id unknown or already handled", "request_id", ac.RequestID)
		case errors.Is(err, bridge.ErrInvalid):
			h.log.Warn("webhook ignored: outcome refused", "request_id", ac.RequestID, "err", err)
		case err != nil:
			h.log.Error("webhook outcome not applied", "request_id", ac.RequestID, "err", err)
			return err
		default:
			h.log.Info("advanced authorization outcome received", "request_id", ac.RequestID,
				"success", ac.Success, "locks", len(ac.Results))
		}
	case p.Feature == "DEVICE_AUTHS" || p.Feature == "ACCOUNT_USER":
		h.log.Debug("webhook asks for a sync", "feature", p.Feature)
		h.sink.RequestSync()
	case p.Feature != "" || p.Type != "":
		h.log.Debug("webhook ignored", "feature", p.Feature, "type", p.Type)
	default:
		h.log.Warn("webhook ignored: neither type nor feature")
	}
	return nil
}

const authCreationType = "AuthCreation"

// webhookPayload is every webhook shape the bridge reads: the Advanced API's
// {"type":"AuthCreation",…} outcome and the {"feature":…} notifications.
type webhookPayload struct {
	Type       string          `json:"type"`
	Feature    string          `json:"feature"`
	RequestID  string          `json:"requestId"`
	Success    bool            `json:"success"`
	Code       codeValue       `json:"code"`
	InviteCode codeValue       `json:"inviteCode"`
	Detail     []webhookDetail `json:"detail"`
}

type webhookDetail struct {
	SmartlockID int64     `json:"smartlockId"`
	Success     bool      `json:"success"`
	ErrorCode   string    `json:"errorCode"`
	ID          string    `json:"id"`
	Code        codeValue `json:"code"`
	InviteCode  codeValue `json:"inviteCode"`
}

// codeValue is an invite code sent as a JSON string or number; numbers keep
// their digits as written.
type codeValue string

func (c *codeValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = codeValue(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("code is neither a string nor a number")
		}
		if _, err := strconv.ParseUint(n.String(), 10, 64); err != nil {
			return fmt.Errorf("code is not a whole number")
		}
		*c = codeValue(n.String())
	}
	return nil
}

// parseWebhook decodes a webhook body.
func parseWebhook(body []byte) (webhookPayload, error) {
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return webhookPayload{}, err
	}
	if p.Type == authCreationType && p.RequestID == "" {
		return webhookPayload{}, errors.New("AuthCreation without requestId")
	}
	return p, nil
}

// authCreation maps an AuthCreation payload to the core's type. Where Nuki
// puts the invite code on success is UNCONFIRMED, so this one function
// accepts, in order of preference: detail[].code, detail[].inviteCode, then a
// top-level code or inviteCode (which applies to every successful lock that
// has none of its own). Failed locks never carry a code.
func authCreation(p webhookPayload) bridge.AuthCreation {
	top := p.Code
	if top == "" {
		top = p.InviteCode
	}
	ac := bridge.AuthCreation{RequestID: p.RequestID, Success: p.Success}
	for _, d := range p.Detail {
		r := bridge.AuthCreationResult{SmartlockID: d.SmartlockID, Success: d.Success, AuthID: d.ID,
			ErrorCode: d.ErrorCode}
		if d.Success {
			code := d.Code
			if code == "" {
				code = d.InviteCode
			}
			if code == "" {
				code = top
			}
			r.Code = bridge.Secret(code)
		}
		ac.Results = append(ac.Results, r)
	}
	return ac
}

// replayCache remembers digests of accepted bodies for a window, at most max
// of them, oldest dropped first.
type replayCache struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	at    map[[32]byte]time.Time
	order []replayEntry // insertion order, for expiry and the bound
}

type replayEntry struct {
	digest [32]byte
	at     time.Time
}

func newReplayCache(window time.Duration, max int) *replayCache {
	return &replayCache{window: window, max: max, at: make(map[[32]byte]time.Time)}
}

// reserve records d and reports true, or reports false when d was recorded
// within the window.
func (c *replayCache) reserve(d [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.at[d]; ok && now.Sub(at) < c.window {
		return false
	}
	for len(c.order) > 0 {
		e := c.order[0]
		at, ok := c.at[e.digest]
		current := ok && at.Equal(e.at)
		if current && now.Sub(at) < c.window && len(c.at) < c.max {
			break
		}
		c.order = c.order[1:]
		if current {
			delete(c.at, e.digest)
		}
	}
	c.at[d] = now
	c.order = append(c.order, replayEntry{digest: d, at: now})
	return true
}

// release forgets d, after its delivery failed and may come again.
func (c *replayCache) release(d [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.at, d)
}
