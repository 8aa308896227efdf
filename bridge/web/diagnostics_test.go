package web_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

func TestDiagnostics(t *testing.T) {
	const bundle = `{"source":"daemon","invitations":[{"id":"#1","events":["lockCount 0 → 1"]}]}`
	fake := func(w io.Writer) error {
		_, err := io.WriteString(w, bundle)
		return err
	}
	t.Run("not offered", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, nil)
		wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/diagnostics", ""), 404, "offers no diagnostics")
	})
	t.Run("download", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.Diagnostics = fake })
		rec := do(t, s.Handler(), "GET", "/api/v1/diagnostics", "")
		h := rec.Header()
		if rec.Code != 200 || rec.Body.String() != bundle || h.Get("Content-Type") != "application/json" ||
			h.Get("Content-Disposition") != `attachment; filename="nuki-invites-diagnostics-20260504-120000.json"` ||
			h.Get("Cache-Control") != "no-store" {
			t.Errorf("diagnostics: %d %q %q %q", rec.Code, h.Get("Content-Type"), h.Get("Content-Disposition"), rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Error("the download is not JSON")
		}
	})
	t.Run("the file is named in UTC", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) {
			o.Diagnostics = fake
			o.Now = func() time.Time { return time.Date(2026, 5, 4, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600)) }
		})
		rec := do(t, s.Handler(), "GET", "/api/v1/diagnostics", "")
		if got := rec.Header().Get("Content-Disposition"); !strings.Contains(got, "nuki-invites-diagnostics-20260504-120000.json") {
			t.Errorf("Content-Disposition %q, want the UTC time in the name", got)
		}
	})
	t.Run("failure", func(t *testing.T) {
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) {
			o.Diagnostics = func(w io.Writer) error {
				_, _ = io.WriteString(w, `{"half":`)
				return errors.New("store closed")
			}
		})
		rec := do(t, s.Handler(), "GET", "/api/v1/diagnostics", "")
		p := wantProblem(t, rec, 500, "the log has the details")
		if strings.Contains(p.Detail, "store closed") || strings.Contains(rec.Body.String(), `"half"`) {
			t.Errorf("a failed bundle leaked into the answer: %s", rec.Body)
		}
	})
	t.Run("behind access control", func(t *testing.T) {
		const token = "diag-token"
		s, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.Diagnostics = fake; o.APIToken = token })
		wantProblem(t, do(t, s.Handler(), "GET", "/api/v1/diagnostics", ""), 401, "")
		if rec := do(t, s.Handler(), "GET", "/api/v1/diagnostics", "", "Authorization", "Bearer "+token); rec.Code != 200 {
			t.Errorf("with the token: %d %s", rec.Code, rec.Body)
		}
		proxied, _ := newRealServer(t, bridge.Options{}, func(o *web.Options) { o.Diagnostics = fake; o.TrustedProxy = "172.30.32.2" })
		wantProblem(t, do(t, proxied.Handler(), "GET", "/api/v1/diagnostics", "", "RemoteAddr", "10.0.0.5:4000"), 403, "")
		if rec := do(t, proxied.Handler(), "GET", "/api/v1/diagnostics", "", "RemoteAddr", "172.30.32.2:4000"); rec.Code != 200 {
			t.Errorf("from the ingress proxy: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestSendingShowsNoExpiry: while a re-send waits for the lock, the API
// does not show the confirmation and expiry of the sending it replaces.
func TestSendingShowsNoExpiry(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	g := seedGuests(rb)
	// An offline lock takes the delete of the old authorization and does
	// not carry it out: the re-send waits.
	if err := rb.sim.SetOffline(frontDoor.ID, true); err != nil {
		t.Fatal(err)
	}
	rb.clock.Advance(time.Hour)
	if rec := do(t, h, "POST", "/api/v1/invitations/"+string(g.alice)+"/resend", ""); rec.Code != 200 {
		t.Fatalf("re-send: %d %s", rec.Code, rec.Body)
	}
	if stored, _ := rb.svc.Invitation(g.alice); stored.ConfirmedAt.IsZero() || stored.ExpiresAt.IsZero() {
		t.Fatalf("the store keeps no confirmation and expiry of the replaced sending (%+v); the test needs them", stored)
	}
	got := decode[map[string]any](t, do(t, h, "GET", "/api/v1/invitations/"+string(g.alice), ""))
	if _, ok := got["expiresAt"]; ok {
		t.Errorf("a sending invitation shows expiresAt %v", got["expiresAt"])
	}
	if _, ok := got["confirmedAt"]; ok {
		t.Errorf("a sending invitation shows confirmedAt %v", got["confirmedAt"])
	}
	if got["status"] != "sending" {
		t.Errorf("invitation %v, want it sending", got)
	}
}
