package web_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

const proxyAddr = "172.30.32.2:41234"

func TestAddonModeServesOnlyTheProxy(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.TrustedProxy = "172.30.32.2" })
	seedGuests(rb)
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
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.TrustedProxy = "172.30.32.2"; o.APIToken = "tok" })
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
			s, rb := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.TrustedProxy = "172.30.32.2" })
			g := seedGuests(rb)
			hdr := append([]string{"RemoteAddr", proxyAddr}, tt.header...)
			rec := do(t, s.Handler(), "POST", "/api/v1/invitations/"+string(g.alice)+"/revoke", "", hdr...)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			inv, _ := rb.svc.Invitation(g.alice)
			if last := inv.History[len(inv.History)-1]; last.Actor != tt.want {
				t.Errorf("history records actor %q, want %q", last.Actor, tt.want)
			}
			rec = do(t, s.Handler(), "POST", "/api/v1/invitations", `{"email":"g@example.com","name":"G","smartlock_ids":[11]}`, hdr...)
			if rec.Code != 201 {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			created := decode[web.InvitationList](t, rec).Invitations[0]
			if inv, _ := rb.svc.Invitation(created.ID); inv.History[0].Actor != tt.want {
				t.Errorf("create recorded actor %q, want %q", inv.History[0].Actor, tt.want)
			}
		})
	}
	t.Run("header ignored without proxy", func(t *testing.T) {
		s, rb := newRealServer(t, bridge.Options{}, nil)
		g := seedGuests(rb)
		do(t, s.Handler(), "POST", "/api/v1/invitations/"+string(g.alice)+"/revoke", "", "X-Remote-User-Name", "mallory")
		inv, _ := rb.svc.Invitation(g.alice)
		if last := inv.History[len(inv.History)-1]; last.Event != bridge.EventRevoked || last.Actor != "web" {
			t.Errorf("history ends with %+v, want revoked by web: the header only counts from the trusted proxy", last)
		}
	})
}

func TestTokenMode(t *testing.T) {
	const token = "s3cr3t-token"
	s, rb := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.APIToken = token })
	g := seedGuests(rb)
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
		{"action without token", "POST", "/api/v1/invitations/" + string(g.alice) + "/revoke", nil, 401},
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
	if inv, _ := rb.svc.Invitation(g.alice); inv.Status == bridge.StatusRevoked {
		t.Error("an unauthorized revoke reached the Service")
	}
}

func TestTokenInAddressGrantsSessionCookie(t *testing.T) {
	const token = "s3cr3t-token"
	s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.APIToken = token })
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
	s, _ := newRealServer(t, bridge.Options{}, nil)
	if rec := do(t, s.Handler(), "GET", "/api/v1/state", "", "RemoteAddr", "10.1.2.3:9"); rec.Code != 200 {
		t.Errorf("status %d: loopback-only servers need no token", rec.Code)
	}
}

func TestExtraHandlersBypassAccessControl(t *testing.T) {
	var hits int
	s, rb := newRealServer(t, bridge.Options{}, func(o *web.Options) {
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
	if _, err := web.New(web.Options{Service: rb.svc, Extra: map[string]http.Handler{"GET /api/v1/state": http.NotFoundHandler()}}); err == nil {
		t.Error("an extra handler clashing with ours was accepted")
	}
}

// TestEveryRouteIsGuarded: every route of the table but /healthz, the bulk
// create and the CSV export among them, is behind the Host check, the
// cross-origin protection and access control, and a refused request
// reaches neither the Service nor Nuki Web.
func TestEveryRouteIsGuarded(t *testing.T) {
	const token = "s3cr3t-token"
	s, rb := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.APIToken = token })
	h := s.Handler()
	rb.sim.ResetCalls()
	routes := web.RouteList(s)
	for _, want := range [][2]string{{"POST", "/api/v1/invitations/bulk"}, {"GET", "/api/v1/invitations.csv"}} {
		if !slices.Contains(routes, want) {
			t.Errorf("the route table has no %s %s", want[0], want[1])
		}
	}
	for _, r := range routes {
		method, path := r[0], r[1]
		if path == "/healthz" {
			continue
		}
		target := strings.NewReplacer("{id}", "11-1", "{file}", "app.js", "{$}", "").Replace(path)
		body := ""
		if method == "POST" {
			body = `{"smartlock_ids":[11],"guests":[{"name":"G","email":"g@example.com"}],"email":"g@example.com","name":"G"}`
		}
		t.Run(method+" "+path, func(t *testing.T) {
			wantProblem(t, do(t, h, method, target, body, "Authorization", "Bearer "+token, "Host", "rebound.example"), 421, "")
			wantProblem(t, do(t, h, method, target, body), 401, "Authorization: Bearer <token>")
			if method == "POST" {
				wantProblem(t, do(t, h, method, target, body, "Authorization", "Bearer "+token, "Origin", "http://evil.example"),
					403, "cross-origin requests may not change anything")
			}
		})
	}
	if n := len(rb.svc.Invitations(bridge.Filter{})); n != 0 || rb.sim.Calls() != 0 {
		t.Errorf("refused requests made %d invitations and %d calls to Nuki Web", n, rb.sim.Calls())
	}
}
