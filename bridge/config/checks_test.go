package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/config"
)

// problems parses env (with a token) and returns the lines of the error.
func problems(t *testing.T, env map[string]string) []string {
	t.Helper()
	if _, ok := env["NUKI_API_TOKEN"]; !ok {
		env["NUKI_API_TOKEN"] = "t"
	}
	_, err := config.Parse(env, true)
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certificatePEM returns a self-signed certificate in PEM.
func certificatePEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestEachProblemIsOneLine feeds one bad value at a time and wants exactly
// the one line that names its variable, never a password.
func TestEachProblemIsOneLine(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "notes.txt", "not a certificate\n")
	tests := []struct {
		name     string
		env      map[string]string
		want     string
		password string // must not appear; "" when there is none
	}{
		// URLs: scheme, host and port; the password never shown.
		{"MQTT URL without scheme", map[string]string{"MQTT_URL": "user:hunter2@broker:1883"},
			`MQTT_URL: "user:xxxxx@broker:1883" has no scheme; write tcp://host:1883, or ssl://host:8883 for TLS`, "hunter2"},
		{"MQTT URL with a mistyped scheme", map[string]string{"MQTT_URL": "mqtt//user:hunter2@broker"},
			`MQTT_URL: "mqtt//user:xxxxx@broker" has no scheme; write tcp://host:1883, or ssl://host:8883 for TLS`, "hunter2"},
		{"MQTT URL of another scheme", map[string]string{"MQTT_URL": "http://user:hunter2@broker:1883"},
			`MQTT_URL: "http://user:xxxxx@broker:1883" has the scheme "http", not one of tcp, mqtt, ssl, mqtts, tls, ws, wss; write tcp://host:1883, or ssl://host:8883 for TLS`, "hunter2"},
		{"MQTT port out of range", map[string]string{"MQTT_URL": "tcp://user:hunter2@broker:99999"},
			`MQTT_URL: "tcp://user:xxxxx@broker:99999" has the port "99999"; a port is a number from 1 to 65535`, "hunter2"},
		{"MQTT port zero", map[string]string{"MQTT_URL": "tcp://broker:0"},
			`MQTT_URL: "tcp://broker:0" has the port "0"; a port is a number from 1 to 65535`, ""},
		{"MQTT without port", map[string]string{"MQTT_URL": "tcp://broker"},
			`MQTT_URL: "tcp://broker" has no port; write tcp://host:1883, or ssl://host:8883 for TLS`, ""},
		{"MQTT without host", map[string]string{"MQTT_URL": "tcp://:1883"},
			`MQTT_URL: "tcp://:1883" names no host; write tcp://host:1883, or ssl://host:8883 for TLS`, ""},
		{"MQTT password with a slash", map[string]string{"MQTT_URL": "tcp://user:hun/ter2@broker:1883"},
			`MQTT_URL: "tcp://user:xxxxx@broker:1883" is not a URL (the port is not a number); write tcp://host:1883, or ssl://host:8883 for TLS, with special characters in the password URL-encoded (%40 for @, %2F for /)`, "ter2"},
		{"MQTT password with a bad escape", map[string]string{"MQTT_URL": "tcp://user:hunter%zz@broker:1883"},
			`MQTT_URL: "tcp://user:xxxxx@broker:1883" is not a URL (a % that does not start an escape such as %40); write tcp://host:1883, or ssl://host:8883 for TLS, with special characters in the password URL-encoded (%40 for @, %2F for /)`, "hunter"},
		{"Nuki URL with a port out of range", map[string]string{"NUKI_API_URL": "https://user:hunter2@api.nuki.io:70000"},
			`NUKI_API_URL: "https://user:xxxxx@api.nuki.io:70000" has the port "70000"; a port is a number from 1 to 65535`, "hunter2"},
		{"Nuki URL of another scheme", map[string]string{"NUKI_API_URL": "ftp://user:hunter2@api.nuki.io"},
			`NUKI_API_URL: "ftp://user:xxxxx@api.nuki.io" has the scheme "ftp", not one of https, http; write https://api.nuki.io`, "hunter2"},
		{"SMTP port out of range", map[string]string{"SMTP_URL": "smtp://mailer:hunter2@mail.example.com:99999", "SMTP_FROM": "a@example.com"},
			`SMTP_URL: the URL has the port "99999"; a port is a number from 1 to 65535`, "hunter2"},
		{"SMTP URL of another scheme", map[string]string{"SMTP_URL": "http://mailer:hunter2@mail.example.com", "SMTP_FROM": "a@example.com"},
			`SMTP_URL: the URL has the scheme "http", not one of smtp, smtps; write smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465`, "hunter2"},
		{"SMTP URL without scheme", map[string]string{"SMTP_URL": "mailer:hunter2@mail.example.com:587", "SMTP_FROM": "a@example.com"},
			`SMTP_URL: the URL has no scheme; write smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465`, "hunter2"},

		// What the daemon used to find one at a time after opening the database.
		{"HTTP port out of range", map[string]string{"HTTP_ADDR": "127.0.0.1:99999"},
			`HTTP_ADDR: "127.0.0.1:99999" has the port "99999"; a port is a number from 1 to 65535`, ""},
		{"HTTP address without port", map[string]string{"HTTP_ADDR": "127.0.0.1"},
			`HTTP_ADDR: "127.0.0.1" is not host:port, e.g. 127.0.0.1:8099`, ""},
		{"missing template folder", map[string]string{"TEMPLATE_DIR": filepath.Join(dir, "absent")},
			`TEMPLATE_DIR: "` + filepath.Join(dir, "absent") + `" does not exist`, ""},
		{"template folder that is a file", map[string]string{"TEMPLATE_DIR": notPEM},
			`TEMPLATE_DIR: "` + notPEM + `" is not a directory`, ""},
		{"missing CA file", map[string]string{"MQTT_URL": "ssl://broker:8883", "MQTT_CA_FILE": filepath.Join(dir, "absent.pem")},
			`MQTT_CA_FILE: "` + filepath.Join(dir, "absent.pem") + `" does not exist`, ""},
		{"CA file without a certificate", map[string]string{"MQTT_URL": "ssl://broker:8883", "MQTT_CA_FILE": notPEM},
			`MQTT_CA_FILE: "` + notPEM + `" holds no PEM certificate`, ""},

		// Ranges the documentation states.
		{"too many automatic re-sends", map[string]string{"AUTO_RESEND_MAX": "1000"},
			`AUTO_RESEND_MAX: expected 0 to 10 re-sends, not 1000`, ""},
		{"negative automatic re-sends", map[string]string{"AUTO_RESEND_MAX": "-1"},
			`AUTO_RESEND_MAX: expected 0 to 10 re-sends, not -1`, ""},
		{"schedule every second", map[string]string{"REMINDER_SCHEDULE": "@every 1s"},
			`REMINDER_SCHEDULE: "@every 1s" runs every 1s; at most once a minute, e.g. "*/15 * * * *"`, ""},
		{"schedule every 30 seconds", map[string]string{"REMINDER_SCHEDULE": "@every 30s"},
			`REMINDER_SCHEDULE: "@every 30s" runs every 30s; at most once a minute, e.g. "*/15 * * * *"`, ""},
		{"schedule that never runs", map[string]string{"REMINDER_SCHEDULE": "0 0 30 2 *"},
			`REMINDER_SCHEDULE: "0 0 30 2 *" never runs`, ""},
		{"keypad e-mail more than 30 days ahead", map[string]string{"KEYPAD_EMAIL_BEFORE": "721h"},
			`KEYPAD_EMAIL_BEFORE: expected 0 (when the window opens) up to 720h (30 days), not 721h0m0s`, ""},
		{"keypad e-mail after the window opened", map[string]string{"KEYPAD_EMAIL_BEFORE": "-1h"},
			`KEYPAD_EMAIL_BEFORE: expected 0 (when the window opens) up to 720h (30 days), not -1h0m0s`, ""},
		{"keypad clean-up before the window ended", map[string]string{"KEYPAD_CLEANUP_AFTER": "-5m"},
			`KEYPAD_CLEANUP_AFTER: expected off (or 0: never deleted) or a duration up to 720h (30 days), not -5m0s`, ""},
		{"keypad clean-up after more than 30 days", map[string]string{"KEYPAD_CLEANUP_AFTER": "1000h"},
			`KEYPAD_CLEANUP_AFTER: expected off (or 0: never deleted) or a duration up to 720h (30 days), not 1000h0m0s`, ""},
		{"time zone, cut short", map[string]string{"TIME_ZONE": "Mars/" + strings.Repeat("x", 100)},
			`TIME_ZONE: "Mars/` + strings.Repeat("x", 55) + `…" is not a known time zone (e.g. Europe/Berlin)`, ""},

		// Values env cannot read: the variable, not the Go field, and no
		// second message about the zero value left behind.
		{"flag in words", map[string]string{"NUKI_ADVANCED_API": "yes"},
			`NUKI_ADVANCED_API: expected true or false, not "yes"`, ""},
		{"duration in words", map[string]string{"INVITE_VALIDITY": "forever"},
			`INVITE_VALIDITY: expected a duration such as 30s, 10m, 48h or 1h30m, not "forever"`, ""},
		{"duration without unit", map[string]string{"SYNC_INTERVAL": "300"},
			`SYNC_INTERVAL: expected a duration such as 30s, 10m, 48h or 1h30m, not "300"`, ""},
		{"count in words", map[string]string{"AUTO_RESEND_MAX": "two"},
			`AUTO_RESEND_MAX: expected a whole number, not "two"`, ""},
		{"count too large for an int", map[string]string{"AUTO_RESEND_MAX": "99999999999999999999"},
			`AUTO_RESEND_MAX: expected a smaller whole number, not "99999999999999999999"`, ""},
		{"keypad clean-up in words", map[string]string{"KEYPAD_CLEANUP_AFTER": "never"},
			`KEYPAD_CLEANUP_AFTER: expected a duration such as 12h or 1h30m, or off, not "never"`, ""},
		{"keypad e-mail switched off", map[string]string{"KEYPAD_EMAIL_BEFORE": "off"},
			`KEYPAD_EMAIL_BEFORE: expected a duration such as 30s, 10m, 48h or 1h30m, not "off"`, ""},
		{"long value cut short", map[string]string{"EXPOSE_CODES": strings.Repeat("y", 200)},
			`EXPOSE_CODES: expected true or false, not "` + strings.Repeat("y", 60) + `…"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.env)
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("problems:\n%s\nwant exactly:\n%s", strings.Join(got, "\n"), tt.want)
			}
			for _, line := range got {
				if tt.password != "" && strings.Contains(line, tt.password) {
					t.Errorf("%q shows the password %q", line, tt.password)
				}
				if strings.Contains(line, "parse error") || strings.Contains(line, "field") {
					t.Errorf("%q speaks of Go fields", line)
				}
			}
		})
	}
}

// TestAcceptedValues lists values at the edges of the rules that must pass.
func TestAcceptedValues(t *testing.T) {
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", certificatePEM(t))
	for name, env := range map[string]map[string]string{
		"WebSocket broker without port":     {"MQTT_URL": "ws://broker/mqtt"},
		"every broker scheme":               {"MQTT_URL": "mqtts://user:pw@broker:8883"},
		"highest port":                      {"MQTT_URL": "tcp://broker:65535", "HTTP_ADDR": "127.0.0.1:65535"},
		"schedule every minute":             {"REMINDER_SCHEDULE": "* * * * *"},
		"every minute by descriptor":        {"REMINDER_SCHEDULE": "@every 1m"},
		"hourly":                            {"REMINDER_SCHEDULE": "@hourly"},
		"most re-sends":                     {"AUTO_RESEND_MAX": "10"},
		"no re-sends":                       {"AUTO_RESEND_MAX": "0"},
		"template folder and CA file":       {"TEMPLATE_DIR": dir, "MQTT_URL": "ssl://broker:8883", "MQTT_CA_FILE": ca},
		"SMTP without port":                 {"SMTP_URL": "smtps://u:p@mail.example.com", "SMTP_FROM": "a@example.com"},
		"keypad e-mail as the window opens": {"KEYPAD_EMAIL_BEFORE": "0"},
		"keypad e-mail 30 days ahead":       {"KEYPAD_EMAIL_BEFORE": "720h"},
		"keypad codes never deleted":        {"KEYPAD_CLEANUP_AFTER": "off"},
		"keypad codes deleted at once":      {"KEYPAD_CLEANUP_AFTER": "1s"},
		"keypad codes kept 30 days":         {"KEYPAD_CLEANUP_AFTER": "720h"},
	} {
		if got := problems(t, env); got != nil {
			t.Errorf("%s: %v", name, got)
		}
	}
}

// TestEveryNewProblemAtOnce wants every problem found without network in a
// single error, one line each, before anything is opened.
func TestEveryNewProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"MQTT_URL": "tcp://user:hunter2@broker:99999", "HTTP_ADDR": "127.0.0.1:99999",
		"TEMPLATE_DIR": filepath.Join(dir, "templates"), "MQTT_CA_FILE": filepath.Join(dir, "ca.pem"),
		"AUTO_RESEND_MAX": "1000", "REMINDER_SCHEDULE": "@every 1s", "NUKI_ADVANCED_API": "yes",
		"INVITE_VALIDITY": "forever", "NUKI_API_URL": "https://user:hunter2@api.nuki.io:0",
		"SMTP_URL": "smtp://mailer:hunter2@mail.example.com:99999", "SMTP_FROM": "a@example.com",
		"KEYPAD_EMAIL_BEFORE": "900h", "KEYPAD_CLEANUP_AFTER": "never",
	}
	got := problems(t, env)
	want := []string{"MQTT_URL:", "HTTP_ADDR:", "TEMPLATE_DIR:", "MQTT_CA_FILE:", "AUTO_RESEND_MAX:", "REMINDER_SCHEDULE:",
		"NUKI_ADVANCED_API:", "INVITE_VALIDITY:", "NUKI_API_URL:", "SMTP_URL:", "KEYPAD_EMAIL_BEFORE:", "KEYPAD_CLEANUP_AFTER:"}
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, w) }) {
			t.Errorf("no line starts with %s:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if joined := strings.Join(got, "\n"); strings.Contains(joined, "hunter2") || strings.Contains(joined, "NukiAdvancedAPI") {
		t.Errorf("a password or a Go field in:\n%s", joined)
	}
}

// TestKeypadSettings reads the two keypad durations as the daemon gets
// them: KEYPAD_EMAIL_BEFORE 0 is the window's start, not off;
// KEYPAD_CLEANUP_AFTER takes off or 0 for never.
func TestKeypadSettings(t *testing.T) {
	tests := []struct {
		env         map[string]string
		emailBefore time.Duration
		cleanup     string // as a log line shows it
	}{
		{map[string]string{}, 24 * time.Hour, "24h0m0s"},
		{map[string]string{"KEYPAD_EMAIL_BEFORE": "0"}, 0, "24h0m0s"},
		{map[string]string{"KEYPAD_EMAIL_BEFORE": "2h30m"}, 150 * time.Minute, "24h0m0s"},
		{map[string]string{"KEYPAD_CLEANUP_AFTER": "72h"}, 24 * time.Hour, "72h0m0s"},
		{map[string]string{"KEYPAD_CLEANUP_AFTER": "off"}, 24 * time.Hour, "off"},
		{map[string]string{"KEYPAD_CLEANUP_AFTER": " OFF "}, 24 * time.Hour, "off"},
		{map[string]string{"KEYPAD_CLEANUP_AFTER": "0"}, 24 * time.Hour, "off"},
		{map[string]string{"KEYPAD_CLEANUP_AFTER": "0s"}, 24 * time.Hour, "off"},
	}
	for _, tt := range tests {
		tt.env["NUKI_API_TOKEN"] = "t"
		c, err := config.Parse(tt.env, true)
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if c.KeypadEmailBefore != tt.emailBefore || c.KeypadCleanupAfter.String() != tt.cleanup ||
			c.KeypadCleanupAfter.Off() != (tt.cleanup == "off") {
			t.Errorf("%v: e-mail %s before, clean-up %s (off %v); want %s and %s",
				tt.env, c.KeypadEmailBefore, c.KeypadCleanupAfter, c.KeypadCleanupAfter.Off(), tt.emailBefore, tt.cleanup)
		}
	}
}
