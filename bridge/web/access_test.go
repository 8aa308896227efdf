package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge/web"
)

const proxyAddr = "172.30.32.2:41234"

func TestAddonModeServesOnlyTheProxy(t *testing.T) {
	s, f := newTestServer(t, func(o *web.Options) { o.TrustedProxy = "172.30.32.2" })
	seed(f)
	h := s.Handler()
	for _, target := range []string{"/api/v1/invitations", "/", "/api/v1/events", "/partials/invitations", "/api/v1/missing"} {
		t.Run("stranger "+target, func(t *testing.T) {
			wantProblem(t, do(t, h, "GET", target, "", "RemoteAddr", "172.30.32.9:5000"), 403, "only Home Assistant's ingress proxy")
		})
	}
	t.Run("stranger may check health", func(t *testing.T) {
		if rec := do(t, h, "GET", "/healthz", "", "RemoteAddr", "127.0.0.1:5000"); rec.Code != 200 {
			t.Errorf("healthz: %d", rec.Code)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		if rec := do(t, h, "GET", "/api/v1/invitations", "", "RemoteAddr", proxyAddr); rec.Code != 200 {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("token does not replace the proxy", func(t *testing.T) {
		s, _ := newTestServer(t, func(o *web.Options) { o.TrustedProxy = "172.30.32.2"; o.APIToken = "tok" })
		wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/state", "", "RemoteAddr", "10.0.0.8:1", "Authorization", "Bearer tok"), 403, "ingress proxy")
	})
}

func TestAddonModeRecordsHomeAssistantUser(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		want   string
	}{
		{"user name", []string{"X-Remote-User-Name", "alice", "X-Remote-User-Display-Name", "Alice A."}, "web:alice"},
		{"display name only", []string{"X-Remote-User-Display-Name", "Alice A."}, "web:Alice A."},
		{"no user", nil, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestServer(t, func(o *web.Options) { o.TrustedProxy = "172.30.32.2" })
			seed(f)
			hdr := append([]string{"RemoteAddr", proxyAddr}, tt.header...)
			rec := do(t, s.Handler(), "POST", "/api/v1/invitations/11-1/revoke", "", hdr...)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			inv, _ := f.Invitation("11-1")
			if last := inv.History[len(inv.History)-1]; last.Actor != tt.want {
				t.Errorf("history records actor %q, want %q", last.Actor, tt.want)
			}
			rec = do(t, s.Handler(), "POST", "/api/v1/invitations", `{"email":"g@example.com","name":"G","smartlock_ids":[11]}`, hdr...)
			if rec.Code != 201 || f.lastCreate.Actor != tt.want {
				t.Errorf("create: %d, actor %q, want %q", rec.Code, f.lastCreate.Actor, tt.want)
			}
		})
	}
	t.Run("header ignored without proxy", func(t *testing.T) {
		s, f := newTestServer(t, nil)
		seed(f)
		do(t, s.Handler(), "POST", "/api/v1/invitations/11-1/revoke", "", "X-Remote-User-Name", "mallory")
		if f.lastActor != "web" {
			t.Errorf("actor %q, want web: the header only counts from the trusted proxy", f.lastActor)
		}
	})
}

func TestTokenMode(t *testing.T) {
	const token = "s3cr3t-token"
	s, f := newTestServer(t, func(o *web.Options) { o.APIToken = token })
	seed(f)
	h := s.Handler()
	tests := []struct {
		name, method, target string
		header               []string
		status               int
	}{
		{"no token", "GET", "/api/v1/invitations", nil, 401},
		{"wrong token", "GET", "/api/v1/invitations", []string{"Authorization", "Bearer nope"}, 401},
		{"token prefix", "GET", "/api/v1/invitations", []string{"Authorization", "Bearer s3cr3t"}, 401},
		{"basic scheme", "GET", "/api/v1/invitations", []string{"Authorization", "Basic " + token}, 401},
		{"page without token", "GET", "/", nil, 401},
		{"events without token", "GET", "/api/v1/events", nil, 401},
		{"action without token", "POST", "/api/v1/invitations/11-1/revoke", nil, 401},
		{"right token", "GET", "/api/v1/invitations", []string{"Authorization", "Bearer " + token}, 200},
		{"scheme in lower case", "GET", "/api/v1/state", []string{"Authorization", "bearer " + token}, 200},
		{"page with token", "GET", "/", []string{"Authorization", "Bearer " + token}, 200},
		{"health needs nothing", "GET", "/healthz", nil, 200},
		{"token in query is not for the API", "GET", "/api/v1/invitations?token=" + token, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, tt.method, tt.target, "", tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 401 {
				wantProblem(t, rec, 401, "Authorization: Bearer <token>")
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Error("the answer shows the token")
			}
		})
	}
	if f.lastActor != "" {
		t.Errorf("an unauthorized revoke reached the service (actor %q)", f.lastActor)
	}
}

func TestTokenInAddressGrantsSessionCookie(t *testing.T) {
	const token = "s3cr3t-token"
	s, _ := newTestServer(t, func(o *web.Options) { o.APIToken = token })
	h := s.Handler()

	wantProblem(t, do(t, h, "GET", "/?token=wrong", ""), 401, "the token in the address is wrong")

	rec := do(t, h, "GET", "/?token="+token+"&status=pending", "")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303: %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); strings.Contains(loc, "token") || !strings.Contains(loc, "status=pending") {
		t.Errorf("redirect to %q: want the page without the token, filters kept", loc)
	}
	if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, "/") {
		t.Errorf("redirect to %q: want a relative address, which stays under a reverse proxy's path", loc)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want one", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value == "" || strings.Contains(c.Value, token) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not holding the token", c)
	}

	withCookie := func(method, target string, mutate func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		req.AddCookie(c)
		if mutate != nil {
			mutate(req)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := withCookie("GET", "/", nil); rec.Code != 200 {
		t.Errorf("page with cookie: %d", rec.Code)
	}
	if rec := withCookie("GET", "/api/v1/invitations", nil); rec.Code != 200 {
		t.Errorf("API with cookie: %d", rec.Code)
	}
	rec = withCookie("POST", "/api/v1/sync", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") })
	wantProblem(t, rec, 403, "cross-origin requests may not change anything")
	if rec := withCookie("POST", "/api/v1/sync", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }); rec.Code != http.StatusAccepted {
		t.Errorf("same-origin sync with cookie: %d %s", rec.Code, rec.Body)
	}
	forged := &http.Cookie{Name: c.Name, Value: strings.Repeat("0", len(c.Value))}
	req := httptest.NewRequest("GET", "/api/v1/invitations", nil)
	req.AddCookie(forged)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantProblem(t, rec, 401, "Bearer")
}

func TestNoAccessControlWithoutTokenOrProxy(t *testing.T) {
	s, _ := newTestServer(t, nil)
	if rec := do(t, s.Handler(), "GET", "/api/v1/state", "", "RemoteAddr", "10.1.2.3:9"); rec.Code != 200 {
		t.Errorf("status %d: loopback-only servers need no token", rec.Code)
	}
}

func TestExtraHandlersBypassAccessControl(t *testing.T) {
	var hits int
	s, _ := newTestServer(t, func(o *web.Options) {
		o.TrustedProxy = "172.30.32.2"
		o.Extra = map[string]http.Handler{"POST /webhook/nuki": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits++
			w.WriteHeader(http.StatusNoContent)
		})}
	})
	rec := do(t, s.Handler(), "POST", "/webhook/nuki", `{"feature":"DEVICE_AUTHS"}`, "RemoteAddr", "52.1.2.3:443")
	if rec.Code != http.StatusNoContent || hits != 1 {
		t.Errorf("webhook: status %d, %d hits", rec.Code, hits)
	}
	if _, err := web.New(web.Options{Service: newFake(), Extra: map[string]http.Handler{"GET /api/v1/state": http.NotFoundHandler()}}); err == nil {
		t.Error("an extra handler clashing with ours was accepted")
	}
}
