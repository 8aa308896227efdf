package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Problem types (RFC 9457 "type" members).
const (
	typeInvalid          = "urn:nuki-invites:problem:invalid-request"
	typeNotFound         = "urn:nuki-invites:problem:not-found"
	typeConflict         = "urn:nuki-invites:problem:conflict"
	typeDisabled         = "urn:nuki-invites:problem:disabled"
	typeForbidden        = "urn:nuki-invites:problem:forbidden"
	typeUnauthorized     = "urn:nuki-invites:problem:unauthorized"
	typeTooLarge         = "urn:nuki-invites:problem:body-too-large"
	typeUnsupportedMedia = "urn:nuki-invites:problem:unsupported-media-type"
	typeNukiUnauthorized = "urn:nuki-invites:problem:nuki-unauthorized"
	typeNukiRateLimited  = "urn:nuki-invites:problem:nuki-rate-limited"
	typeNukiUnavailable  = "urn:nuki-invites:problem:nuki-unavailable"
	typeNukiRejected     = "urn:nuki-invites:problem:nuki-rejected"
	typeInternal         = "urn:nuki-invites:problem:internal"
	typeUnavailable      = "urn:nuki-invites:problem:unavailable"
	typeMethodNotAllowed = "urn:nuki-invites:problem:method-not-allowed"
	typeMisdirected      = "urn:nuki-invites:problem:misdirected"
)

// problem is an application/problem+json body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Invitations extends the problem of a create that Nuki Web refused
	// for some locks: what the create made, kept and retried.
	Invitations []Invitation `json:"invitations,omitempty"`

	retryAfter time.Duration
}

func writeProblem(w http.ResponseWriter, p problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// defaultRetryAfter is advised when Nuki rate limits without saying how long.
const defaultRetryAfter = time.Minute

// problemFor maps an error of the Service to a problem. Only messages of
// known errors are shown; they carry no secrets (the core's contract).
// Anything else becomes a generic 500 and known is false, so the caller logs
// it.
func problemFor(err error) (p problem, known bool) {
	var ne *bridge.NukiError
	if errors.As(err, &ne) {
		switch {
		case errors.Is(ne.Kind, bridge.ErrNukiUnauthorized):
			return problem{Type: typeNukiUnauthorized, Status: http.StatusBadGateway, Title: "Nuki Web refused the token",
				Detail: "the Nuki API token was refused: create a new API token in Nuki Web (menu API) and update the configuration"}, true
		case errors.Is(ne.Kind, bridge.ErrNukiRateLimited):
			wait := ne.RetryAfter
			if wait <= 0 {
				wait = defaultRetryAfter
			}
			return problem{Type: typeNukiRateLimited, Status: http.StatusServiceUnavailable, Title: "Nuki Web is rate limiting",
				Detail: "Nuki Web is rate limiting requests; try again in " + wait.Round(time.Second).String(), retryAfter: wait}, true
		case errors.Is(ne.Kind, bridge.ErrNukiRejected):
			detail := "Nuki Web rejected the request"
			if ne.Description != "" {
				detail += ": " + ne.Description
			} else if ne.Status != 0 {
				detail += " (HTTP " + strconv.Itoa(ne.Status) + ")"
			}
			return problem{Type: typeNukiRejected, Status: http.StatusBadGateway, Title: "Nuki Web rejected the request",
				Detail: detail}, true
		default:
			p := problem{Type: typeNukiUnavailable, Status: http.StatusServiceUnavailable, Title: "Nuki Web is unreachable",
				Detail: "Nuki Web is unreachable right now; try again later"}
			if ne.RetryAfter > 0 {
				p.retryAfter = ne.RetryAfter
			}
			return p, true
		}
	}
	for _, m := range []struct {
		err    error
		typ    string
		status int
		title  string
	}{
		{bridge.ErrNotFound, typeNotFound, http.StatusNotFound, "Not found"},
		{bridge.ErrInvalid, typeInvalid, http.StatusBadRequest, "Invalid request"},
		{bridge.ErrConflict, typeConflict, http.StatusConflict, "Not possible now"},
		{bridge.ErrDisabled, typeDisabled, http.StatusForbidden, "Disabled by configuration"},
	} {
		if errors.Is(err, m.err) {
			return problem{Type: m.typ, Status: m.status, Title: m.title, Detail: detailOf(err, m.err)}, true
		}
	}
	return problem{Type: typeInternal, Status: http.StatusInternalServerError, Title: "Internal error",
		Detail: "the request failed unexpectedly; the log has the details"}, false
}

// detailOf drops the sentinel's own words when they lead the message
// ("invalid request: email is missing" → "email is missing").
func detailOf(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok && rest != "" {
		return rest
	}
	return msg
}

// fail answers err as a problem and logs what was not expected.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, s.problemOf(r, err))
}

// problemOf is problemFor, logging what was not expected.
func (s *Server) problemOf(r *http.Request, err error) problem {
	p, known := problemFor(err)
	if !known {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if p.Status >= 500 {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return p
}

// createProblem is the problem of a create that failed. When Nuki Web
// refused only some of the locks, made holds every invitation of the
// create: those for the refused locks are kept as failed and the scheduler
// retries them, as the MQTT create's answer says with its invite_ids. The
// detail then counts them; the caller decides where the invitations go.
func (s *Server) createProblem(r *http.Request, err error, made []bridge.Invitation) problem {
	p := s.problemOf(r, err)
	failed := 0
	for _, inv := range made {
		if inv.Status == bridge.StatusFailed {
			failed++
		}
	}
	if failed > 0 {
		p.Detail = fmt.Sprintf("Nuki Web refused %d of %d locks; those invitations are kept as failed and retried: %s",
			failed, len(made), p.Detail)
	}
	return p
}

func badRequest(w http.ResponseWriter, detail string) {
	writeProblem(w, problem{Type: typeInvalid, Status: http.StatusBadRequest, Title: "Invalid request", Detail: detail})
}
