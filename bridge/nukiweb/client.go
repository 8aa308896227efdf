package nukiweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Options tunes a Client. The zero value takes the defaults noted.
type Options struct {
	// HTTPClient makes the requests; an http.Client with a 15s timeout.
	HTTPClient *http.Client
	// Logger receives retries and failures (never tokens, bodies or codes).
	Logger *slog.Logger
	// Now is the clock, used to read Retry-After dates; time.Now.
	Now func() time.Time
	// MaxRetries is how often one call is retried after its first attempt; 3.
	// A negative value disables retries.
	MaxRetries int
	// PageSize is the limit of each GET /account/user page; 100. It should
	// not exceed the largest limit Nuki Web honours: a page shorter than the
	// limit ends the listing.
	PageSize int
	// Sleep waits between attempts and returns ctx.Err() when ctx ends first;
	// a timer. Tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxBackoff bounds one wait between attempts, including a server's
	// Retry-After: a longer Retry-After is not waited for and the call fails
	// with ErrNukiRateLimited carrying it; 30s.
	MaxBackoff time.Duration
}

const (
	defaultTimeout    = 15 * time.Second
	defaultMaxRetries = 3
	defaultPageSize   = 100
	defaultMaxBackoff = 30 * time.Second
	baseBackoff       = 250 * time.Millisecond
	busyBackoff       = time.Second // first wait after a 423: the lock needs seconds
	maxErrorBody      = 16 << 10
	maxResponseBody   = 256 << 20
)

// Client is a Nuki Web API client. It is safe for concurrent use and holds no
// resources beyond its http.Client.
type Client struct {
	base    string
	token   bridge.Secret
	opts    Options
	log     *slog.Logger
	maxBody int64 // bytes of a 2xx answer read at most; maxResponseBody
	// authCount is how many app authorizations the last Fetch kept: the
	// next one allocates room for that many at once.
	authCount atomic.Int64
}

var _ bridge.Nuki = (*Client)(nil)

// New returns a Client for the API at baseURL (e.g. "https://api.nuki.io",
// or a simulator's URL) authenticating with the API token.
func New(baseURL string, token bridge.Secret, opts Options) *Client {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = defaultMaxRetries
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.PageSize <= 0 {
		opts.PageSize = defaultPageSize
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	return &Client{
		base:    strings.TrimRight(baseURL, "/"),
		token:   token,
		opts:    opts,
		log:     opts.Logger.With("component", "nukiweb"),
		maxBody: maxResponseBody,
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// call is one API operation. Op names it in errors ("GET /smartlock/auth");
// Path is the URL path (with ids filled in) and Query its query string.
type call struct {
	Method string
	Op     string
	Path   string
	Query  url.Values
	Body   any // encoded as JSON when not nil
	Out    any // decoded from a 2xx JSON answer when not nil
	// Stream, when not nil, reads a 2xx answer instead of Out, as it
	// arrives (see list). It is called once for each attempt that gets a
	// body and must change nothing of its caller's when it fails: the call
	// may be tried again. An error it returns becomes an "unreadable answer".
	Stream func(io.Reader) error
	// OneLock marks a call on one lock's endpoint
	// (/smartlock/{smartlockId}/…), or on the locks its body names: a 403
	// there says a lock is not the account's (ErrNukiLockDenied), not that
	// the token was refused.
	OneLock bool
	// Repeatable marks a call other than GET or DELETE that does no harm when
	// carried out twice, so it is retried like a read.
	Repeatable bool
}

// idempotent reports whether the call may be repeated after an attempt that
// may have reached Nuki.
func (c call) idempotent() bool {
	return c.Repeatable || c.Method == http.MethodGet || c.Method == http.MethodDelete
}

// do runs the call with retries and returns the number of HTTP requests it
// made. Any failure is a *bridge.NukiError.
func (c *Client) do(ctx context.Context, cl call) (requests int, err error) {
	var body []byte
	if cl.Body != nil {
		if body, err = json.Marshal(cl.Body); err != nil {
			return 0, fmt.Errorf("%s: encode request: %w", cl.Op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		requests++
		err := c.attempt(ctx, cl, body)
		if err == nil {
			return requests, nil
		}
		var ne *bridge.NukiError
		if !errors.As(err, &ne) || attempt >= c.opts.MaxRetries || ctx.Err() != nil {
			return requests, err
		}
		wait, ok := c.retryWait(cl, ne, attempt)
		if !ok {
			return requests, err
		}
		c.log.Warn("Nuki Web call failed, retrying", "op", cl.Op, "status", ne.Status,
			"kind", ne.Kind.Error(), "attempt", attempt+1, "wait", wait)
		if serr := c.opts.Sleep(ctx, wait); serr != nil {
			return requests, err
		}
	}
}

// retryWait decides whether a failed attempt is tried again and how long to
// wait first: Retry-After when the server sent one, else exponential backoff
// with jitter (a random wait in the upper half of the step), both bounded by
// MaxBackoff.
func (c *Client) retryWait(cl call, ne *bridge.NukiError, attempt int) (time.Duration, bool) {
	base := baseBackoff
	switch {
	case errors.Is(ne.Kind, bridge.ErrNukiRateLimited):
		// A 429 means the request was turned away before it did anything.
	case errors.Is(ne.Reason, bridge.ErrBusy):
		// So does a 423: an earlier change is still running on the lock.
		base = busyBackoff
	case errors.Is(ne.Kind, bridge.ErrNukiUnavailable):
		if !cl.idempotent() && !notSent(ne.Err) {
			return 0, false
		}
	default:
		return 0, false
	}
	if ne.RetryAfter > 0 {
		if ne.RetryAfter > c.opts.MaxBackoff {
			return 0, false
		}
		return ne.RetryAfter, true
	}
	ceiling := min(base<<attempt, c.opts.MaxBackoff)
	return ceiling/2 + rand.N(ceiling/2+1), true
}

// notSent reports whether a transport error proves the request never left:
// the connection was refused or could not be dialled.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// attempt makes one HTTP request.
func (c *Client) attempt(ctx context.Context, cl call, body []byte) error {
	u := c.base + cl.Path
	if len(cl.Query) > 0 {
		u += "?" + cl.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.Method, u, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", cl.Op, transportError(err))
	}
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return &bridge.NukiError{Kind: bridge.ErrNukiUnavailable, Op: cl.Op, Err: transportError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ne := c.statusError(cl, resp)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return ne
	}
	read := cl.Stream
	if read == nil && cl.Out != nil {
		read = func(r io.Reader) error {
			raw, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, cl.Out)
		}
	}
	if read == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	answer := &bodyReader{r: io.LimitReader(resp.Body, c.maxBody)}
	if err := read(answer); err != nil {
		if answer.err != nil {
			return &bridge.NukiError{Kind: bridge.ErrNukiUnavailable, Op: cl.Op, Status: resp.StatusCode,
				Err: transportError(answer.err)}
		}
		return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: cl.Op, Status: resp.StatusCode,
			Description: "unreadable answer", Err: err}
	}
	return nil
}

// bodyReader reads an answer's body and keeps the first error of the
// connection (anything but io.EOF), so that a body cut off in transit is told
// apart from one that is not valid JSON.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// transportError drops the URL from a *url.Error: the Op already names the
// call, and a query may carry an email address.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiError is Nuki's error body:
// {"code":422,"description":"…","homeRef":"/","reasonPhrase":"…","uri":"…"}.
type apiError struct {
	Description  string `json:"description"`
	ReasonPhrase string `json:"reasonPhrase"`
}

// statusError turns a non-2xx answer into a *bridge.NukiError:
//
//	401                      ErrNukiUnauthorized
//	403                      ErrNukiLockDenied on one lock's endpoint, else ErrNukiUnauthorized
//	429                      ErrNukiRateLimited, with Retry-After
//	5xx                      ErrNukiUnavailable, with Retry-After
//	400, 404, 409, 423       ErrNukiRejected with Reason ErrInvalid, ErrNotFound, ErrConflict, ErrBusy
//	any other                ErrNukiRejected without a Reason
//
// Nuki's description is kept for every 4xx but 429.
func (c *Client) statusError(cl call, resp *http.Response) *bridge.NukiError {
	ne := &bridge.NukiError{Op: cl.Op, Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		ne.Kind = bridge.ErrNukiUnauthorized
	case resp.StatusCode == http.StatusForbidden && cl.OneLock:
		ne.Kind = bridge.ErrNukiLockDenied
	case resp.StatusCode == http.StatusForbidden:
		ne.Kind = bridge.ErrNukiUnauthorized
	case resp.StatusCode == http.StatusTooManyRequests:
		ne.Kind = bridge.ErrNukiRateLimited
		ne.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	case resp.StatusCode >= 500:
		ne.Kind = bridge.ErrNukiUnavailable
		ne.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	default:
		ne.Kind = bridge.ErrNukiRejected
		ne.Reason = reason(resp.StatusCode)
		if resp.StatusCode == http.StatusLocked {
			ne.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
		}
	}
	if ne.Kind != bridge.ErrNukiRateLimited && ne.Kind != bridge.ErrNukiUnavailable {
		var body apiError
		if json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body) == nil {
			ne.Description = cleanDescription(body.Description)
		}
	}
	return ne
}

// reason returns the core's error a 4xx answer stands for, or nil.
func reason(status int) error {
	switch status {
	case http.StatusBadRequest:
		return bridge.ErrInvalid
	case http.StatusNotFound:
		return bridge.ErrNotFound
	case http.StatusConflict:
		return bridge.ErrConflict
	case http.StatusLocked:
		return bridge.ErrBusy
	}
	return nil
}

// cleanDescription keeps Nuki's description short, on one line and free of
// email addresses and keypad codes (a refusal may quote what it refused):
// any word with an @ becomes "[email]", any number that could be a keypad
// code (six digits 1 to 9) "[code]".
func cleanDescription(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		if strings.Contains(w, "@") {
			words[i] = "[email]"
		}
	}
	s = redactCode(strings.Join(words, " "))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// redactCode replaces with "[code]" every run of digits in s that is one of
// codes or six digits from 1 to 9, the form of every keypad code.
func redactCode(s string, codes ...string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		run := s[i:j]
		if len(run) == 6 && !strings.Contains(run, "0") || slices.Contains(codes, run) {
			run = "[code]"
		}
		b.WriteString(run)
		i = j
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
// Missing, malformed or past values give 0.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
