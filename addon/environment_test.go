package addon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeOptions writes options as /data/options.json would look and returns
// its path.
func writeOptions(t *testing.T, options map[string]any) string {
	t.Helper()
	b, err := json.Marshal(options)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "options.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// supervisor is a fake Supervisor that answers GET /services/mqtt with the
// next of its answers (the last one repeats) and records what it was asked.
type supervisor struct {
	mu      sync.Mutex
	answers []answer
	calls   int
	auth    []string
}

type answer struct {
	status int
	body   string
}

func (s *supervisor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet || r.URL.Path != "/services/mqtt" {
		http.NotFound(w, r)
		return
	}
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

const (
	brokerNumberPort = `{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":1883,"ssl":false,"username":"addons","password":"broker-pw-1","protocol":"3.1.1"}}`
	brokerStringPort = `{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":"1884","ssl":false,"username":"addons","password":"broker-pw-2","protocol":"3.1.1"}}`
	brokerSSL        = `{"result":"ok","data":{"host":"core-mosquitto","port":8883,"ssl":true,"username":"addons","password":"broker-pw-3","protocol":"3.1.1"}}`
	notEnabled       = `{"result":"error","message":"Service not enabled","data":{}}`
	forbidden        = `{"result":"error","message":"Access denied"}`
)

// recorder is an Options.Sleep that records the waits and never sleeps.
type recorder struct{ waits []time.Duration }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func TestEnvironmentMapsEveryOption(t *testing.T) {
	path := writeOptions(t, map[string]any{
		"nuki_api_token":        "  tok-123\n",
		"nuki_advanced_api":     true,
		"nuki_webhook_secret":   "hook-secret",
		"invite_validity":       "72h",
		"reminder_before":       "6h",
		"reminder_schedule":     "0 * * * *",
		"sync_interval":         "2m",
		"resend_cooldown":       "30m",
		"auto_resend_after":     "12h",
		"auto_resend_on_expiry": true,
		"auto_resend_max":       3,
		"expose_codes":          true,
		"keypad_email_before":   "2h",
		"keypad_cleanup_after":  "off",
		"smtp_url":              "smtps://me:pw@mail.example.com:465",
		"smtp_from":             "Flat <flat@example.com>",
		"admin_email":           "owner@example.com",
		"time_zone":             "Europe/Berlin",
		"mqtt_url":              "tcp://broker.lan:1883",
		"mqtt_username":         "bridge",
		"mqtt_password":         "mqtt-pw",
		"mqtt_base_topic":       "flat",
		"mqtt_discovery_prefix": "ha",
		"ha_retention":          "24h",
		"log_level":             "DEBUG",
	})
	configDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(configDir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: configDir, Hostname: "a0d7b954-nuki-invites"})
	if err != nil {
		t.Fatalf("Environment: %v", err)
	}
	want := map[string]string{
		"NUKI_API_TOKEN":        "tok-123",
		"NUKI_ADVANCED_API":     "true",
		"NUKI_WEBHOOK_SECRET":   "hook-secret",
		"INVITE_VALIDITY":       "72h",
		"REMINDER_BEFORE":       "6h",
		"REMINDER_SCHEDULE":     "0 * * * *",
		"SYNC_INTERVAL":         "2m",
		"RESEND_COOLDOWN":       "30m",
		"AUTO_RESEND_AFTER":     "12h",
		"AUTO_RESEND_ON_EXPIRY": "true",
		"AUTO_RESEND_MAX":       "3",
		"EXPOSE_CODES":          "true",
		"KEYPAD_EMAIL_BEFORE":   "2h",
		"KEYPAD_CLEANUP_AFTER":  "off",
		"SMTP_URL":              "smtps://me:pw@mail.example.com:465",
		"SMTP_FROM":             "Flat <flat@example.com>",
		"ADMIN_EMAIL":           "owner@example.com",
		"TIME_ZONE":             "Europe/Berlin",
		"MQTT_URL":              "tcp://broker.lan:1883",
		"MQTT_USERNAME":         "bridge",
		"MQTT_PASSWORD":         "mqtt-pw",
		"MQTT_BASE_TOPIC":       "flat",
		"MQTT_DISCOVERY_PREFIX": "ha",
		"HA_RETENTION":          "24h",
		"LOG_LEVEL":             "debug",
		"DB_PATH":               "/data/nuki-invites.db",
		"HTTP_ADDR":             "0.0.0.0:8099",
		"HTTP_TRUSTED_PROXY":    "172.30.32.2",
		"MQTT_CLIENT_ID":        "nuki-invites-a0d7b954-nuki-invites",
		"TEMPLATE_DIR":          filepath.Join(configDir, "templates"),
	}
	if !maps.Equal(got, want) {
		for k := range maps.Keys(want) {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		for k := range maps.Keys(got) {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s = %q", k, got[k])
			}
		}
	}
}

func TestEnvironmentLeavesOutUnsetOptions(t *testing.T) {
	path := writeOptions(t, map[string]any{
		"nuki_api_token":      "tok",
		"mqtt_url":            "tcp://broker.lan:1883",
		"smtp_url":            "",
		"nuki_webhook_secret": nil,
	})
	got, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir(), Hostname: "host"})
	if err != nil {
		t.Fatalf("Environment: %v", err)
	}
	for _, name := range []string{"SMTP_URL", "NUKI_WEBHOOK_SECRET", "MQTT_USERNAME", "MQTT_PASSWORD", "TEMPLATE_DIR", "INVITE_VALIDITY"} {
		if v, ok := got[name]; ok {
			t.Errorf("%s = %q is set, want it left out so the daemon's default applies", name, v)
		}
	}
}

func TestEnvironmentRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		options map[string]any
		want    []string // each must appear in the error
		secret  string   // must not appear in the error
	}{
		{"unknown option", map[string]any{"nuki_api_token": "t", "invite_valdity": "48h"}, []string{`unknown option "invite_valdity"`}, ""},
		{"token null, as config.yaml ships it", map[string]any{"nuki_api_token": nil}, []string{"option nuki_api_token is not set", "Nuki Web (menu API)"}, ""},
		{"token left out", map[string]any{"log_level": "info"}, []string{"option nuki_api_token is not set", "Nuki Web (menu API)"}, ""},
		{"token blank", map[string]any{"nuki_api_token": "  \n"}, []string{"option nuki_api_token is not set", "Nuki Web (menu API)"}, ""},
		{"duration in words", map[string]any{"nuki_api_token": "t", "invite_validity": "2 days"}, []string{"option invite_validity", "48h"}, ""},
		{"zero validity", map[string]any{"nuki_api_token": "t", "invite_validity": "0"}, []string{"option invite_validity", "positive"}, ""},
		{"negative auto re-send", map[string]any{"nuki_api_token": "t", "auto_resend_after": "-1h"}, []string{"option auto_resend_after", "0 (off)"}, ""},
		{"flag as text", map[string]any{"nuki_api_token": "t", "expose_codes": "yes"}, []string{"option expose_codes", "true or false"}, ""},
		{"fractional count", map[string]any{"nuki_api_token": "t", "auto_resend_max": 1.5}, []string{"option auto_resend_max", "whole number"}, ""},
		{"bad schedule", map[string]any{"nuki_api_token": "t", "reminder_schedule": "every hour"}, []string{"option reminder_schedule", "cron"}, ""},
		{"bad time zone", map[string]any{"nuki_api_token": "t", "time_zone": "Mars/Olympus"}, []string{"option time_zone", "Europe/Berlin"}, ""},
		{"bad log level", map[string]any{"nuki_api_token": "t", "log_level": "loud"}, []string{"option log_level"}, ""},
		{"broker URL without scheme", map[string]any{"nuki_api_token": "t", "mqtt_url": "user:hunter2@broker:1883"}, []string{"option mqtt_url"}, "hunter2"},
		{"SMTP URL of another kind", map[string]any{"nuki_api_token": "t", "smtp_url": "http://me:s3cret@mail:25", "smtp_from": "a@b.c"}, []string{"option smtp_url"}, "s3cret"},
		{"SMTP without sender", map[string]any{"nuki_api_token": "t", "smtp_url": "smtp://me:s3cret@mail:587"}, []string{"option smtp_from is required"}, "s3cret"},
		{"broker login without broker", map[string]any{"nuki_api_token": "t", "mqtt_username": "u", "mqtt_password": "hunter2"}, []string{"mqtt_username", "mqtt_url"}, "hunter2"},
		{"token of the wrong type", map[string]any{"nuki_api_token": 12345}, []string{"option nuki_api_token", "must be text"}, "12345"},
		{"schedule too frequent", map[string]any{"nuki_api_token": "t", "reminder_schedule": "@every 10s"}, []string{`option reminder_schedule: "@every 10s" runs every 10s; at most once a minute`}, ""},
		{"schedule that never runs", map[string]any{"nuki_api_token": "t", "reminder_schedule": "0 0 30 2 *"}, []string{`option reminder_schedule: "0 0 30 2 *" never runs`}, ""},
		{"too many re-sends", map[string]any{"nuki_api_token": "t", "auto_resend_max": 11}, []string{"option auto_resend_max: must be a whole number from 0 to 10, not 11"}, ""},
		{"broker port out of range", map[string]any{"nuki_api_token": "t", "mqtt_url": "tcp://user:hunter2@broker:99999"}, []string{`option mqtt_url: "tcp://user:xxxxx@broker:99999" has the port "99999"; a port is a number from 1 to 65535`}, "hunter2"},
		{"broker URL with a mistyped scheme", map[string]any{"nuki_api_token": "t", "mqtt_url": "mqtt//user:hunter2@broker"}, []string{`option mqtt_url: "mqtt//user:xxxxx@broker" has no scheme`}, "hunter2"},
		{"broker URL without port", map[string]any{"nuki_api_token": "t", "mqtt_url": "tcp://broker"}, []string{`option mqtt_url: "tcp://broker" has no port`}, ""},
		{"SMTP port out of range", map[string]any{"nuki_api_token": "t", "smtp_url": "smtp://me:s3cret@mail:99999", "smtp_from": "a@b.c"}, []string{`option smtp_url: the URL has the port "99999"`}, "s3cret"},
		{"keypad e-mail more than 30 days ahead", map[string]any{"nuki_api_token": "t", "keypad_email_before": "800h"},
			[]string{"option keypad_email_before: expected 0 (when the window opens) up to 720h (30 days), not 800h0m0s"}, ""},
		{"keypad e-mail switched off", map[string]any{"nuki_api_token": "t", "keypad_email_before": "off"},
			[]string{`option keypad_email_before: "off" is not a duration`}, ""},
		{"keypad clean-up in words", map[string]any{"nuki_api_token": "t", "keypad_cleanup_after": "never"},
			[]string{`option keypad_cleanup_after: "never" is neither a duration nor off`}, ""},
		{"negative keypad clean-up", map[string]any{"nuki_api_token": "t", "keypad_cleanup_after": "-1h"},
			[]string{"option keypad_cleanup_after: expected off (or 0: never deleted) or a duration up to 720h (30 days), not -1h0m0s"}, ""},
		{"keypad clean-up after more than 30 days", map[string]any{"nuki_api_token": "t", "keypad_cleanup_after": "2000h"},
			[]string{"option keypad_cleanup_after: expected off (or 0: never deleted)", "not 2000h0m0s"}, ""},
		{"every problem at once", map[string]any{"nuki_api_token": "t", "sync_interval": "soon", "ha_retention": "forever",
			"keypad_email_before": "800h", "keypad_cleanup_after": "never"},
			[]string{"option sync_interval", "option ha_retention", "option keypad_email_before", "option keypad_cleanup_after"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeOptions(t, tt.options)
			_, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir(), Hostname: "h"})
			if err == nil {
				t.Fatal("Environment accepted the options, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q shows the secret %q", err, tt.secret)
			}
		})
	}
}

func TestEnvironmentUnreadableOptions(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := Environment(t.Context(), Options{OptionsPath: filepath.Join(t.TempDir(), "options.json")})
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "options.json")
		if err := os.WriteFile(path, []byte("nuki_api_token: x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Environment(t.Context(), Options{OptionsPath: path})
		if err == nil || !strings.Contains(err.Error(), "not a JSON object") {
			t.Fatalf("err = %v, want it to say the file is not a JSON object", err)
		}
	})
}

func TestEnvironmentBrokerFromSupervisor(t *testing.T) {
	tests := []struct {
		name      string
		answers   []answer
		wantURL   string
		wantPass  string
		wantWaits []time.Duration
	}{
		{"port as number", []answer{{200, brokerNumberPort}}, "tcp://core-mosquitto:1883", "broker-pw-1", nil},
		{"port as string", []answer{{200, brokerStringPort}}, "tcp://core-mosquitto:1884", "broker-pw-2", nil},
		{"ssl", []answer{{200, brokerSSL}}, "ssl://core-mosquitto:8883", "broker-pw-3", nil},
		{
			"waits for the broker add-on, then succeeds",
			[]answer{{400, notEnabled}, {502, `{"result":"error","message":"Bad gateway"}`}, {400, notEnabled}, {400, notEnabled}, {400, notEnabled}, {200, brokerNumberPort}},
			"tcp://core-mosquitto:1883", "broker-pw-1",
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sup := &supervisor{answers: tt.answers}
			srv := httptest.NewServer(sup)
			defer srv.Close()
			rec := &recorder{}
			var logs bytes.Buffer
			path := writeOptions(t, map[string]any{"nuki_api_token": "nuki-tok"})
			got, err := Environment(t.Context(), Options{
				OptionsPath: path, ConfigDir: t.TempDir(), Hostname: "h",
				SupervisorURL: srv.URL, SupervisorToken: "sup-token",
				Sleep: rec.sleep, MaxBackoff: 5 * time.Second,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err != nil {
				t.Fatalf("Environment: %v", err)
			}
			if got["MQTT_URL"] != tt.wantURL || got["MQTT_USERNAME"] != "addons" || got["MQTT_PASSWORD"] != tt.wantPass {
				t.Errorf("broker = %q user %q password %q, want %q user addons password %q",
					got["MQTT_URL"], got["MQTT_USERNAME"], got["MQTT_PASSWORD"], tt.wantURL, tt.wantPass)
			}
			if fmt.Sprint(rec.waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits = %v, want %v", rec.waits, tt.wantWaits)
			}
			for _, secret := range []string{tt.wantPass, "sup-token", "nuki-tok"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log shows the secret %q:\n%s", secret, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "MQTT broker from the Supervisor") {
				t.Errorf("log does not say where the broker came from:\n%s", logs.String())
			}
			if len(tt.wantWaits) > 0 && !strings.Contains(logs.String(), "Mosquitto") {
				t.Errorf("log does not say why it waits:\n%s", logs.String())
			}
			for _, a := range sup.auth {
				if a != "Bearer sup-token" {
					t.Errorf("Authorization = %q, want the Supervisor token as bearer", a)
				}
			}
		})
	}
}

func TestEnvironmentBrokerErrors(t *testing.T) {
	t.Run("403 says the add-on may not ask", func(t *testing.T) {
		sup := &supervisor{answers: []answer{{403, forbidden}}}
		srv := httptest.NewServer(sup)
		defer srv.Close()
		rec := &recorder{}
		path := writeOptions(t, map[string]any{"nuki_api_token": "tok"})
		_, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token", Sleep: rec.sleep})
		if err == nil || !strings.Contains(err.Error(), "mqtt:need") || !strings.Contains(err.Error(), "mqtt_url") {
			t.Fatalf("err = %v, want it to name the missing services entry and the mqtt_url option", err)
		}
		if len(rec.waits) != 0 || sup.calls != 1 {
			t.Errorf("asked %d times and waited %v, want one request and no retry", sup.calls, rec.waits)
		}
	})
	t.Run("gives up when the context ends", func(t *testing.T) {
		sup := &supervisor{answers: []answer{{400, notEnabled}}}
		srv := httptest.NewServer(sup)
		defer srv.Close()
		ctx, cancel := context.WithCancel(t.Context())
		waits := 0
		sleep := func(ctx context.Context, d time.Duration) error {
			if waits++; waits == 3 {
				cancel()
			}
			return ctx.Err()
		}
		path := writeOptions(t, map[string]any{"nuki_api_token": "tok"})
		_, err := Environment(ctx, Options{OptionsPath: path, ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token", Sleep: sleep})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "Mosquitto") {
			t.Fatalf("err = %v, want context.Canceled with the reason it waited", err)
		}
		if sup.calls != 3 {
			t.Errorf("asked %d times, want 3", sup.calls)
		}
	})
	t.Run("manual broker overrides the Supervisor", func(t *testing.T) {
		sup := &supervisor{answers: []answer{{200, brokerNumberPort}}}
		srv := httptest.NewServer(sup)
		defer srv.Close()
		path := writeOptions(t, map[string]any{"nuki_api_token": "tok", "mqtt_url": "ssl://broker.lan:8883", "mqtt_username": "me", "mqtt_password": "mine"})
		got, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token"})
		if err != nil {
			t.Fatalf("Environment: %v", err)
		}
		if got["MQTT_URL"] != "ssl://broker.lan:8883" || got["MQTT_USERNAME"] != "me" || got["MQTT_PASSWORD"] != "mine" {
			t.Errorf("broker = %q %q %q, want the one from the options", got["MQTT_URL"], got["MQTT_USERNAME"], got["MQTT_PASSWORD"])
		}
		if sup.calls != 0 {
			t.Errorf("asked the Supervisor %d times, want none", sup.calls)
		}
	})
	t.Run("no Supervisor token and no broker option", func(t *testing.T) {
		path := writeOptions(t, map[string]any{"nuki_api_token": "tok"})
		_, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "SUPERVISOR_TOKEN") {
			t.Fatalf("err = %v, want it to name SUPERVISOR_TOKEN", err)
		}
	})
	t.Run("bad port", func(t *testing.T) {
		sup := &supervisor{answers: []answer{{200, `{"result":"ok","data":{"host":"core-mosquitto","port":"eighteen","ssl":false}}`}}}
		srv := httptest.NewServer(sup)
		defer srv.Close()
		path := writeOptions(t, map[string]any{"nuki_api_token": "tok"})
		_, err := Environment(t.Context(), Options{OptionsPath: path, ConfigDir: t.TempDir(), SupervisorURL: srv.URL, SupervisorToken: "sup-token"})
		if err == nil || !strings.Contains(err.Error(), "port") {
			t.Fatalf("err = %v, want it to name the port", err)
		}
	})
}

func TestClientIDIsStableAndClean(t *testing.T) {
	tests := map[string]string{
		"a0d7b954-nuki-invites": "nuki-invites-a0d7b954-nuki-invites",
		"local nuki.invites":    "nuki-invites-local-nuki-invites",
		"":                      "nuki-invites-addon",
	}
	for host, want := range tests {
		if got := clientID(host); got != want {
			t.Errorf("clientID(%q) = %q, want %q", host, got, want)
		}
	}
}
