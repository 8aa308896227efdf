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
	"strconv"
	"strings"
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
	// PageSize is the limit of each GET /account/user page; 100.
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
	maxErrorBody      = 16 << 10
	maxResponseBody   = 256 << 20
)

// Client is a Nuki Web API client. It is safe for concurrent use and holds no
// resources beyond its http.Client.
type Client struct {
	base  string
	token bridge.Secret
	opts  Options
	log   *slog.Logger
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
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		opts:  opts,
		log:   opts.Logger.With("component", "nukiweb"),
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
}

// idempotent reports whether the call may be repeated after an attempt that
// may have reached Nuki.
func (c call) idempotent() bool {
	return c.Method == http.MethodGet || c.Method == http.MethodDelete
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
// with full jitter, both bounded by MaxBackoff.
func (c *Client) retryWait(cl call, ne *bridge.NukiError, attempt int) (time.Duration, bool) {
	switch {
	case errors.Is(ne.Kind, bridge.ErrNukiRateLimited):
		// A 429 means the request was turned away before it did anything.
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
	ceiling := min(baseBackoff<<attempt, c.opts.MaxBackoff)
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
		return fmt.Errorf("%s: %w", cl.Op, err)
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
		ne := c.statusError(cl.Op, resp)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return ne
	}
	if cl.Out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return &bridge.NukiError{Kind: bridge.ErrNukiUnavailable, Op: cl.Op, Status: resp.StatusCode, Err: transportError(err)}
	}
	if err := json.Unmarshal(raw, cl.Out); err != nil {
		return &bridge.NukiError{Kind: bridge.ErrNukiRejected, Op: cl.Op, Status: resp.StatusCode,
			Description: "unreadable answer", Err: err}
	}
	return nil
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

// statusError turns a non-2xx answer into a *bridge.NukiError.
func (c *Client) statusError(op string, resp *http.Response) *bridge.NukiError {
	ne := &bridge.NukiError{Op: op, Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ne.Kind = bridge.ErrNukiUnauthorized
	case resp.StatusCode == http.StatusTooManyRequests:
		ne.Kind = bridge.ErrNukiRateLimited
		ne.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	case resp.StatusCode >= 500:
		ne.Kind = bridge.ErrNukiUnavailable
		ne.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	default:
		ne.Kind = bridge.ErrNukiRejected
		if resp.StatusCode == http.StatusNotFound {
			ne.Err = bridge.ErrNotFound
		}
	}
	if ne.Kind == bridge.ErrNukiRejected || ne.Kind == bridge.ErrNukiUnauthorized {
		var body apiError
		if json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body) == nil {
			ne.Description = cleanDescription(body.Description)
		}
	}
	return ne
}

// cleanDescription keeps Nuki's description short and on one line.
func cleanDescription(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

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
