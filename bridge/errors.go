package bridge

import (
	"errors"
	"fmt"
	"time"
)

// Errors the Service returns. Wrap them with detail (fmt.Errorf("%w: …")) and
// match them with errors.Is; the HTTP API and the MQTT result topic map them
// to status codes and to "ok": false answers.
var (
	// ErrNotFound: no invitation, lock or user with that id.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request itself is wrong (missing email, bad lock id, …).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request is valid but the invitation's state forbids it
	// (re-send of an accepted invitation, re-send within the cool-down, …).
	ErrConflict = errors.New("not possible now")
	// ErrDisabled: the action needs an option that is off (EXPOSE_CODES,
	// NUKI_ADVANCED_API, SMTP).
	ErrDisabled = errors.New("disabled by configuration")
)

// Kinds of failure when talking to Nuki Web. A *NukiError wraps exactly one.
var (
	ErrNukiUnauthorized = errors.New("the Nuki API token was refused")
	ErrNukiRateLimited  = errors.New("Nuki Web is rate limiting requests")
	ErrNukiUnavailable  = errors.New("Nuki Web is unreachable")
	ErrNukiRejected     = errors.New("Nuki Web rejected the request")
)

// NukiError describes a failed Nuki Web call. It never contains the token or
// a request body.
type NukiError struct {
	Kind        error         // one of the ErrNuki* values
	Op          string        // e.g. "GET /smartlock/auth"
	Status      int           // HTTP status, 0 for transport errors
	Description string        // Nuki's own error description, if any
	RetryAfter  time.Duration // from Retry-After on 429/503, 0 if absent
	Err         error         // underlying transport error, if any
}

func (e *NukiError) Error() string {
	msg := e.Kind.Error()
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match both the kind and the transport error.
func (e *NukiError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}
