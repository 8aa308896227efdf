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
	// ErrBusy: an earlier change to the same authorization is still being
	// carried out by the lock; the same request may succeed later.
	ErrBusy = errors.New("busy with an earlier change")
	// ErrStore: the database could not be written; nothing of the change
	// was kept.
	ErrStore = errors.New("the database could not be written")
)

// Kinds of failure when talking to Nuki Web. A *NukiError wraps exactly one.
var (
	ErrNukiUnauthorized = errors.New("the Nuki API token was refused")
	ErrNukiRateLimited  = errors.New("Nuki Web is rate limiting requests")
	ErrNukiUnavailable  = errors.New("Nuki Web is unreachable")
	ErrNukiRejected     = errors.New("Nuki Web rejected the request")
	// ErrNukiLockDenied: Nuki Web refused access to one lock (403 on that
	// lock's endpoint): the lock is not the account's, the token is fine.
	ErrNukiLockDenied = errors.New("Nuki Web denies access to this lock")
)

// NukiError describes a failed Nuki Web call. It never contains the token or
// a request body. The core matches Kind and Reason with errors.Is and never
// reads Status, which is there for the message and the log.
type NukiError struct {
	Kind        error         // one of the ErrNuki* values
	Reason      error         // nil, or ErrNotFound (404), ErrConflict (409), ErrBusy (423), ErrInvalid (400)
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

// Unwrap lets errors.Is match the kind, the reason and the transport error.
func (e *NukiError) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Reason != nil {
		errs = append(errs, e.Reason)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
