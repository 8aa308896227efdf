package web_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// newHostServer is a server as the daemon builds it by default: loopback,
// no token, no names configured.
func newHostServer(t *testing.T, tweak func(*web.Options)) (*web.Server, *realBridge) {
	t.Helper()
	return newRealServer(t, bridge.Options{}, func(o *web.Options) {
		o.AllowedHosts = nil
		o.Backup = func(path string) error { return os.WriteFile(path, []byte("bolt file"), 0o600) }
		o.Extra = map[string]http.Handler{"POST /webhook/nuki": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})}
		if tweak != nil {
			tweak(o)
		}
	})
}

// A page whose name rebinds to 127.0.0.1 sends its own name as Host and as
// Origin; the server must not answer it.
func TestRebindingPageIsRefused(t *testing.T) {
	s, rb := newHostServer(t, nil)
	g := seedGuests(rb)
	rb.sim.ResetCalls()
	h := s.Handler()
	const rebound = "rebind.example:8099"
	browser := []string{"Host", rebound, "Origin", "http://" + rebound, "Sec-Fetch-Site", "same-origin"}
	steps := []struct{ method, target, body string }{
		{"POST", "/api/v1/invitations", `{"email":"g@example.com","name":"G","smartlock_ids":[11]}`},
		{"POST", "/api/v1/invitations/" + string(g.alice) + "/code", ""},
		{"POST", "/api/v1/invitations/" + string(g.alice) + "/revoke", ""},
		{"GET", "/api/v1/backup", ""},
		{"GET", "/api/v1/invitations", ""},
		{"GET", "/api/v1/events", ""},
		{"GET", "/", ""},
		{"GET", "/api/v1/nothing", ""},
	}
	for _, st := range steps {
		t.Run(st.method+" "+st.target, func(t *testing.T) {
			p := wantProblem(t, do(t, h, st.method, st.target, st.body, browser...), http.StatusMisdirectedRequest,
				`does not answer to the host name "rebind.example:8099"`)
			if p.Type != "urn:nuki-invites:problem:misdirected" {
				t.Errorf("type %q", p.Type)
			}
		})
	}
	if n := len(rb.svc.Invitations(bridge.Filter{})); n != 3 || rb.sim.Calls() != 0 {
		t.Errorf("the Service was asked: %d invitations, %d calls to Nuki Web", n, rb.sim.Calls())
	}
	t.Run("long host name is clipped", func(t *testing.T) {
		p := wantProblem(t, do(t, h, "GET", "/", "", "Host", strings.Repeat("a", 500)+".example"), 421, "…")
		if strings.Contains(p.Detail, strings.Repeat("a", 41)) {
			t.Errorf("detail quotes the whole host: %.80s", p.Detail)
		}
	})
}

func TestHostNamesAnswered(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*web.Options)
		method string
		target string
		header []string
		status int
	}{
		{"localhost", nil, "GET", "/api/v1/state", []string{"Host", "localhost:8099"}, 200},
		{"localhost in capitals with a dot", nil, "GET", "/api/v1/state", []string{"Host", "LOCALHOST.:8099"}, 200},
		{"127.0.0.1", nil, "GET", "/api/v1/state", []string{"Host", "127.0.0.1:8099"}, 200},
		{"::1", nil, "GET", "/api/v1/state", []string{"Host", "[::1]:8099"}, 200},
		{"without port", nil, "GET", "/", []string{"Host", "127.0.0.1"}, 200},
		{"another address", nil, "GET", "/api/v1/state", []string{"Host", "192.168.1.5:8099"}, 421},
		{"empty host", nil, "GET", "/api/v1/state", []string{"Host", ""}, 421},
		{"configured name", func(o *web.Options) { o.AllowedHosts = []string{"Nuki.LAN"} }, "GET", "/api/v1/state", []string{"Host", "nuki.lan:8099"}, 200},
		{"configured name with port", func(o *web.Options) { o.AllowedHosts = []string{"nuki.lan:80"} }, "GET", "/api/v1/state", []string{"Host", "nuki.lan"}, 200},
		{"bound address", func(o *web.Options) { o.Addr = "192.168.1.5:8099" }, "GET", "/api/v1/state", []string{"Host", "192.168.1.5:8099"}, 200},
		{"not the bound address", func(o *web.Options) { o.Addr = "192.168.1.5:8099" }, "GET", "/api/v1/state", []string{"Host", "192.168.1.6:8099"}, 421},
		{"any address when bound to all", func(o *web.Options) { o.Addr = "0.0.0.0:8099" }, "GET", "/api/v1/state", []string{"Host", "192.168.1.6:8099"}, 200},
		{"no name when bound to all", func(o *web.Options) { o.Addr = ":8099" }, "GET", "/api/v1/state", []string{"Host", "rebind.example:8099"}, 421},
		{"health for any host", nil, "GET", "/healthz", []string{"Host", "rebind.example:8099"}, 200},
		{"webhook for any host", nil, "POST", "/webhook/nuki", []string{"Host", "nuki-invites.example.org", "Origin", "https://nuki.io"}, 204},
		{"ingress proxy with the browser's host", func(o *web.Options) { o.TrustedProxy = "172.30.32.2" }, "POST", "/api/v1/sync",
			[]string{"RemoteAddr", proxyAddr, "Host", "homeassistant.local:8123", "Origin", "http://homeassistant.local:8123", "Sec-Fetch-Site", "same-origin"}, 202},
		{"stranger beside the proxy", func(o *web.Options) { o.TrustedProxy = "172.30.32.2" }, "GET", "/api/v1/state",
			[]string{"RemoteAddr", "172.30.32.9:5000", "Host", "rebind.example"}, 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newHostServer(t, tt.tweak)
			rec := do(t, s.Handler(), tt.method, tt.target, "", tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	t.Run("bad configured name", func(t *testing.T) {
		if _, err := web.New(web.Options{Service: newRealBridge(t, bridge.Options{}).svc, AllowedHosts: []string{"http://nuki.lan/"}}); err == nil {
			t.Error("an allowed host with a scheme and path was accepted")
		}
	})
}

// Writes from a page of another origin are refused even when the browser
// calls them same-origin; reads are not.
func TestCrossOriginWritesAreRefused(t *testing.T) {
	tests := []struct {
		name, method, origin string
		status               int
	}{
		{"other origin", "POST", "http://evil.example", 403},
		{"other port", "POST", "http://localhost:9000", 403},
		{"opaque origin", "POST", "null", 403},
		{"same origin", "POST", "http://localhost:8099", 202},
		{"no origin", "POST", "", 202},
		{"read from another origin", "GET", "http://evil.example", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rb := newHostServer(t, nil)
			target := "/api/v1/sync"
			if tt.method == "GET" {
				target = "/api/v1/state"
			}
			hdr := []string{"Host", "localhost:8099", "Sec-Fetch-Site", "same-origin"}
			if tt.origin != "" {
				hdr = append(hdr, "Origin", tt.origin)
			}
			rec := do(t, s.Handler(), tt.method, target, "", hdr...)
			if tt.status == 403 {
				wantProblem(t, rec, 403, "cross-origin requests may not change anything")
				if rb.watched.syncRequests.Load() != 0 {
					t.Error("the refused request asked for a sync")
				}
				return
			}
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.method == "POST" && rb.watched.syncRequests.Load() != 1 {
				t.Errorf("%d requests for a sync, want the one asked for", rb.watched.syncRequests.Load())
			}
		})
	}
}
