package web

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hostPolicy is the set of Host headers our routes answer to. A web page
// that rebinds its own name to this machine makes the browser send that
// name; refusing unknown names keeps such a page out even on loopback
// without a token. An IP literal cannot come from a rebound name.
type hostPolicy struct {
	names map[string]bool // normalised: lower case, no port, no brackets
	anyIP bool            // listening on 0.0.0.0 or [::]
}

// newHostPolicy allows localhost, the loopback addresses, the address
// listened on (bound, host:port) and the configured names.
func newHostPolicy(bound string, allowed []string) (hostPolicy, error) {
	p := hostPolicy{names: map[string]bool{"localhost": true}}
	if h, _, err := net.SplitHostPort(bound); err == nil {
		if h == "" {
			p.anyIP = true
		} else if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			p.anyIP = true
		} else {
			p.names[hostName(h)] = true
		}
	}
	for _, a := range allowed {
		a = strings.TrimSpace(a)
		name := hostName(a)
		if name == "" || strings.ContainsAny(a, " /\\@?#*,") {
			return hostPolicy{}, fmt.Errorf("web: allowed host %q is not a host name (example: nuki.example.org)", a)
		}
		p.names[name] = true
	}
	return p, nil
}

// allows reports whether a request's Host header names this server.
func (p hostPolicy) allows(host string) bool {
	name := hostName(host)
	if name == "" {
		return false
	}
	if p.names[name] {
		return true
	}
	ip := net.ParseIP(name)
	if ip == nil {
		return false
	}
	return ip.IsLoopback() || p.anyIP || p.names[ip.String()]
}

// hostName normalises a Host header or a configured name: the port and
// IPv6 brackets go, letters are lowered, a trailing dot is dropped. IP
// addresses come out in their canonical form.
func hostName(h string) string {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		h = h[1:end]
	} else if strings.Count(h, ":") == 1 {
		h, _, _ = strings.Cut(h, ":")
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// checkHost refuses requests for another host name with 421 and writes
// whose Origin is another host with 403. The ingress proxy forwards the
// browser's own Host and Origin, so its requests pass as they are; the
// cross-origin protection still applies to them.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.TrustedProxy != "" && s.fromTrustedProxy(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !s.hosts.allows(r.Host) {
			writeProblem(w, problem{Type: typeMisdirected, Status: http.StatusMisdirectedRequest, Title: "Misdirected request",
				Detail: "this server does not answer to the host name " + clip(r.Host) +
					"; open it as localhost or 127.0.0.1, or add the name to the allowed host names"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !safeMethod(r.Method) && !sameHost(origin, r.Host) {
			writeProblem(w, problem{Type: typeForbidden, Status: http.StatusForbidden, Title: "Forbidden",
				Detail: "cross-origin requests may not change anything"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameHost reports whether an Origin header names host (host:port as in the
// Host header). "null" and anything unparsable never match.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
