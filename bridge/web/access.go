package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// sessionCookie holds a value derived from the API token, granted by opening
// the page once with ?token=.
const sessionCookie = "nuki_invites_session"

type actorKey struct{}

// actorOf returns who made the request, for the history: "web:<name>" with
// Home Assistant's user, "web" otherwise.
func actorOf(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey{}).(string); ok {
		return a
	}
	return "web"
}

// guard enforces the access mode on one of our routes and records the actor.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor := "web"
		switch {
		case s.opts.TrustedProxy != "":
			if !s.fromTrustedProxy(r) {
				writeProblem(w, problem{Type: typeForbidden, Status: http.StatusForbidden, Title: "Forbidden",
					Detail: "only Home Assistant's ingress proxy may use this server"})
				return
			}
			if name := remoteUser(r); name != "" {
				actor = "web:" + name
			}
		case !s.opts.APIToken.IsZero():
			if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				s.grantSession(w, r, tok)
				return
			}
			if !s.authorized(r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="nuki-invites"`)
				writeProblem(w, problem{Type: typeUnauthorized, Status: http.StatusUnauthorized, Title: "Unauthorized",
					Detail: "send the API token as \"Authorization: Bearer <token>\", or open the page once with ?token=<token>"})
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, want := net.ParseIP(host), net.ParseIP(s.opts.TrustedProxy)
	return ip != nil && ip.Equal(want)
}

// remoteUser returns Home Assistant's user name, cleaned for the history.
func remoteUser(r *http.Request) string {
	name := r.Header.Get("X-Remote-User-Name")
	if name == "" {
		name = r.Header.Get("X-Remote-User-Display-Name")
	}
	name = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return -1
		}
		return c
	}, strings.TrimSpace(name))
	for len(name) > 64 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// authorized checks the bearer token or the session cookie, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && s.tokenMatches(strings.TrimSpace(tok))
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return equalDigest(c.Value, s.sessionValue())
	}
	return false
}

func (s *Server) tokenMatches(tok string) bool {
	return equalDigest(tok, s.opts.APIToken.Reveal())
}

// equalDigest compares two strings in constant time, lengths included.
func equalDigest(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// sessionValue is the cookie value: an HMAC of a fixed label keyed with the
// token, so the cookie never holds the token and changes with it.
func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.opts.APIToken.Reveal()))
	m.Write([]byte("nuki-invites web session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// grantSession turns a correct ?token= into the session cookie and redirects
// to the same page without the token, so it leaves the address bar and the
// browser history.
func (s *Server) grantSession(w http.ResponseWriter, r *http.Request, tok string) {
	if !s.tokenMatches(tok) {
		writeProblem(w, problem{Type: typeUnauthorized, Status: http.StatusUnauthorized, Title: "Unauthorized",
			Detail: "the token in the address is wrong"})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.sessionValue(),
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	q := r.URL.Query()
	q.Del("token")
	target := "./"
	if p := r.URL.EscapedPath(); strings.LastIndex(p, "/") < len(p)-1 {
		target += p[strings.LastIndex(p, "/")+1:]
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	// Not http.Redirect: it would turn the relative address into an
	// absolute path, which leaves a reverse proxy's path prefix.
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}
