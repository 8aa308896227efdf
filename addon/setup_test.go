package addon

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// selfInfo is a fake Supervisor answer to GET /addons/self/info that
// records the Authorization headers it was sent.
type selfInfo struct {
	mu     sync.Mutex
	status int
	body   string
	auth   []string
}

func (s *selfInfo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	fmt.Fprint(w, s.body)
}

// fakeSupervisor serves the MQTT service and the add-on's own info.
func fakeSupervisor(t *testing.T, info *selfInfo) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/services/mqtt", &supervisor{answers: []answer{{200, brokerNumberPort}}})
	mux.Handle("/addons/self/info", info)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// selfInfoBody is the Supervisor's answer for an installed add-on, cut to a
// few of its fields.
func selfInfoBody(slug string) string {
	return fmt.Sprintf(`{"result":"ok","data":{"name":"Nuki Invites","slug":%q,"hostname":"local-nuki-invites","ingress":true,"ingress_entry":"/api/hassio_ingress/tok","state":"started"}}`, slug)
}

func TestPrepareLinksDevicesToTheAddonPage(t *testing.T) {
	for _, slug := range []string{"local_nuki_invites", "a0d7b954_nuki_invites"} {
		t.Run(slug, func(t *testing.T) {
			info := &selfInfo{status: 200, body: selfInfoBody(slug)}
			srv := fakeSupervisor(t, info)
			var logs bytes.Buffer
			o := Options{OptionsPath: writeOptions(t, map[string]any{"nuki_api_token": "nuki-tok"}), ConfigDir: t.TempDir(),
				SupervisorURL: srv.URL, SupervisorToken: "sup-token", Hostname: "h",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			got, err := Prepare(t.Context(), o)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if want := "homeassistant://hassio/ingress/" + slug; got.ConfigurationURL != want {
				t.Errorf("ConfigurationURL = %q, want %q", got.ConfigurationURL, want)
			}
			env, err := Environment(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Env, env) {
				t.Errorf("Prepare's environment %v differs from Environment's %v", got.Env, env)
			}
			if len(info.auth) == 0 || info.auth[0] != "Bearer sup-token" {
				t.Errorf("Authorization = %q, want the Supervisor token as bearer", info.auth)
			}
			if strings.Contains(logs.String(), "sup-token") || strings.Contains(logs.String(), "nuki-tok") {
				t.Errorf("the log shows a token:\n%s", logs.String())
			}
		})
	}
}

func TestPrepareStartsWithoutALinkWhenTheSupervisorDoesNotSay(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		reason string // in the warning
	}{
		{"refused", 403, `{"result":"error","message":"Access denied"}`, "403"},
		{"server error", 500, `{"result":"error","message":"boom"}`, "500"},
		{"not JSON", 200, `<html>`, "not JSON"},
		{"error result", 200, `{"result":"error","message":"Addon is not installed"}`, "not installed"},
		{"no slug", 200, `{"result":"ok","data":{}}`, "not an add-on slug"},
		{"slug leaving the path", 200, selfInfoBody("../../config"), "not an add-on slug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeSupervisor(t, &selfInfo{status: tt.status, body: tt.body})
			var logs bytes.Buffer
			got, err := Prepare(t.Context(), Options{OptionsPath: writeOptions(t, map[string]any{"nuki_api_token": "nuki-tok"}),
				ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token", Hostname: "h",
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Prepare failed (%v); the link must never stop the start", err)
			}
			if got.ConfigurationURL != "" {
				t.Errorf("ConfigurationURL = %q, want none", got.ConfigurationURL)
			}
			if got.Env["MQTT_URL"] != "tcp://core-mosquitto:1883" {
				t.Errorf("MQTT_URL = %q, want the Supervisor's broker", got.Env["MQTT_URL"])
			}
			line := logs.String()
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "no link to the add-on page") || !strings.Contains(line, tt.reason) {
				t.Errorf("log lacks a warning with the reason %q:\n%s", tt.reason, line)
			}
			if strings.Contains(line, "sup-token") {
				t.Errorf("the log shows the Supervisor token:\n%s", line)
			}
		})
	}
}

func TestPrepareWithoutSupervisor(t *testing.T) {
	t.Run("no token", func(t *testing.T) {
		var logs bytes.Buffer
		got, err := Prepare(t.Context(), Options{OptionsPath: writeOptions(t, map[string]any{"nuki_api_token": "tok", "mqtt_url": "tcp://broker.lan:1883"}),
			ConfigDir: t.TempDir(), Hostname: "h", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if got.ConfigurationURL != "" || got.Env["MQTT_URL"] != "tcp://broker.lan:1883" {
			t.Errorf("got link %q and broker %q, want no link and the broker of the options", got.ConfigurationURL, got.Env["MQTT_URL"])
		}
		if !strings.Contains(logs.String(), "SUPERVISOR_TOKEN is not set") {
			t.Errorf("log does not say why there is no link:\n%s", logs.String())
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		got, err := Prepare(t.Context(), Options{OptionsPath: writeOptions(t, map[string]any{"nuki_api_token": "tok", "mqtt_url": "tcp://broker.lan:1883"}),
			ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token", Hostname: "h"})
		if err != nil || got.ConfigurationURL != "" {
			t.Fatalf("Prepare = %q, %v; want a start without a link", got.ConfigurationURL, err)
		}
	})
	t.Run("bad options still fail", func(t *testing.T) {
		info := &selfInfo{status: 200, body: selfInfoBody("local_nuki_invites")}
		srv := fakeSupervisor(t, info)
		_, err := Prepare(t.Context(), Options{OptionsPath: writeOptions(t, map[string]any{"nuki_api_token": nil}),
			ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token", Hostname: "h"})
		if err == nil || !strings.Contains(err.Error(), "nuki_api_token is not set") {
			t.Fatalf("err = %v, want the options' error", err)
		}
		if len(info.auth) != 0 {
			t.Errorf("asked for the slug %d times after the options failed, want never", len(info.auth))
		}
	})
}
