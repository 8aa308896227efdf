package web

import (
	"fmt"
	"net/http"
	"strings"
)

// route is one entry of the route table. The OpenAPI document lists exactly
// these (a test holds them together).
type route struct {
	Method string
	Path   string // ServeMux path, "{id}" wildcards as in OpenAPI
	Open   bool   // served without access control
	Handle http.HandlerFunc
}

func (s *Server) routeTable() []route {
	return []route{
		{Method: "GET", Path: "/healthz", Open: true, Handle: s.healthz},
		{Method: "GET", Path: "/api/v1/openapi.json", Handle: s.openAPI},
		{Method: "GET", Path: "/api/v1/invitations", Handle: s.listInvitations},
		{Method: "POST", Path: "/api/v1/invitations", Handle: s.createInvitations},
		{Method: "POST", Path: "/api/v1/invitations/bulk", Handle: s.bulkCreate},
		{Method: "GET", Path: "/api/v1/invitations.csv", Handle: s.exportCSV},
		{Method: "GET", Path: "/api/v1/invitations/{id}", Handle: s.getInvitation},
		{Method: "POST", Path: "/api/v1/invitations/{id}/resend", Handle: s.resendInvitation},
		{Method: "POST", Path: "/api/v1/invitations/{id}/revoke", Handle: s.revokeInvitation},
		{Method: "POST", Path: "/api/v1/invitations/{id}/code", Handle: s.revealCode},
		{Method: "GET", Path: "/api/v1/keypad-codes/unmanaged", Handle: s.listUnmanaged},
		{Method: "POST", Path: "/api/v1/keypad-codes/adopt", Handle: s.adoptKeypadCode},
		{Method: "POST", Path: "/api/v1/sync", Handle: s.sync},
		{Method: "POST", Path: "/api/v1/sync/confirm", Handle: s.confirmSync},
		{Method: "GET", Path: "/api/v1/locks", Handle: s.listLocks},
		{Method: "GET", Path: "/api/v1/state", Handle: s.state},
		{Method: "GET", Path: "/api/v1/events", Handle: s.events},
		{Method: "GET", Path: "/api/v1/backup", Handle: s.backup},
		{Method: "GET", Path: "/api/v1/diagnostics", Handle: s.diagnostics},
		{Method: "GET", Path: "/{$}", Handle: s.index},
		{Method: "GET", Path: "/partials/invitations", Handle: s.rowsPartial},
		{Method: "GET", Path: "/partials/invitations/{id}", Handle: s.historyPartial},
		{Method: "GET", Path: "/assets/{file}", Handle: s.asset},
	}
}

// buildHandler registers the route table and the extra handlers, wrapping
// ours but /healthz in the Host check, cross-origin protection and access
// control. Extra handlers get none of these: they check their callers
// themselves (the webhook its signature) and answer to any host name.
func (s *Server) buildHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem{Type: typeForbidden, Status: http.StatusForbidden, Title: "Forbidden",
			Detail: "cross-origin requests may not change anything"})
	}))
	for _, rt := range s.routes {
		var h http.Handler = rt.Handle
		if !rt.Open {
			h = s.checkHost(csrf.Handler(s.guard(h)))
		}
		if err := register(mux, rt.Method+" "+rt.Path, h); err != nil {
			return nil, err
		}
	}
	for pattern, h := range s.opts.Extra {
		if err := register(mux, pattern, h); err != nil {
			return nil, err
		}
	}
	return s.recoverer(s.unmatched(mux)), nil
}

// register turns ServeMux's panic on a bad or clashing pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("web: route %q: %v", pattern, p)
		}
	}()
	if strings.TrimSpace(pattern) == "" || h == nil {
		return fmt.Errorf("web: extra route %q has no pattern or no handler", pattern)
	}
	mux.Handle(pattern, h)
	return nil
}

// recoverer answers a panicking handler with a 500 problem and logs it.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				writeProblem(w, problem{Type: typeInternal, Status: http.StatusInternalServerError,
					Title: "Internal error", Detail: "the server failed to answer; see the add-on log"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// unmatched answers requests no pattern matches with a problem: 404, or 405
// with the Allow header when the path exists for other methods. The Host
// check and access control still apply, so the answer tells strangers
// nothing.
func (s *Server) unmatched(mux *http.ServeMux) http.Handler {
	notServed := s.checkHost(s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probe := &headerProbe{header: http.Header{}}
		h, _ := mux.Handler(r)
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeProblem(w, problem{Type: typeMethodNotAllowed, Status: http.StatusMethodNotAllowed, Title: "Method not allowed",
				Detail: fmt.Sprintf("%s is not allowed on %s; use %s", clipRaw(r.Method), clipRaw(r.URL.Path), probe.header.Get("Allow"))})
			return
		}
		writeProblem(w, problem{Type: typeNotFound, Status: http.StatusNotFound, Title: "Not found",
			Detail: fmt.Sprintf("nothing is served at %s %s", clipRaw(r.Method), clipRaw(r.URL.Path))})
	})))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			notServed.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// headerProbe records what ServeMux's own error handlers would answer.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(status int)      { p.status = status }
