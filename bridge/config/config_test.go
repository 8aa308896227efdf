package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Parse(map[string]string{"NUKI_API_TOKEN": "t"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.NukiAPIURL != "https://api.nuki.io" || c.DBPath != "./nuki-invites.db" || c.SyncInterval != 5*time.Minute ||
		c.InviteValidity != 48*time.Hour || c.ReminderBefore != 12*time.Hour || c.ResendCooldown != 10*time.Minute ||
		c.ReminderSchedule != "*/15 * * * *" || c.AutoResendAfter != 0 || c.AutoResendMax != 2 || c.ExposeCodes ||
		c.MQTTURL != "tcp://127.0.0.1:1883" || c.MQTTBaseTopic != "nuki_invites" || c.MQTTDiscoveryPrefix != "homeassistant" ||
		c.HARetention != 168*time.Hour || c.HTTPAddr != "127.0.0.1:8099" || c.LogLevel != "info" || c.LogFormat != "text" ||
		c.KeypadEmailBefore != 24*time.Hour || c.KeypadCleanupAfter != config.DurationOrOff(24*time.Hour) {
		t.Errorf("defaults: %+v", c)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	_, err := config.Parse(map[string]string{
		"SYNC_INTERVAL": "5s", "INVITE_VALIDITY": "forever", "REMINDER_SCHEDULE": "every 15 minutes",
		"MQTT_URL": "broker:1883", "MQTT_BASE_TOPIC": "nuki/#", "HTTP_ADDR": "0.0.0.0:8099",
		"SMTP_URL": "mail.example.com", "TIME_ZONE": "Mars/Olympus", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml",
	}, true)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"NUKI_API_TOKEN is required", "SYNC_INTERVAL 5s is too short", "INVITE_VALIDITY",
		"REMINDER_SCHEDULE", "MQTT_URL", "MQTT_BASE_TOPIC", "set API_TOKEN", "SMTP_URL: the URL has no scheme", "SMTP_FROM is required",
		"TIME_ZONE", "LOG_LEVEL", "LOG_FORMAT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
}

func TestTokenOptionalInTheDemo(t *testing.T) {
	if _, err := config.Parse(map[string]string{}, false); err != nil {
		t.Errorf("Parse without a token in demo mode: %v", err)
	}
}

func TestAPITokenNeededBeyondLoopback(t *testing.T) {
	tests := []struct {
		env  map[string]string
		fail bool
	}{
		{map[string]string{"HTTP_ADDR": "127.0.0.1:8099"}, false},
		{map[string]string{"HTTP_ADDR": "localhost:8099"}, false},
		{map[string]string{"HTTP_ADDR": "[::1]:8099"}, false},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8099"}, true},
		{map[string]string{"HTTP_ADDR": ":8099"}, true},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8099", "API_TOKEN": "s3cret"}, false},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8099", "HTTP_TRUSTED_PROXY": "172.30.32.2"}, false},
	}
	for _, tt := range tests {
		tt.env["NUKI_API_TOKEN"] = "t"
		_, err := config.Parse(tt.env, true)
		if (err != nil) != tt.fail {
			t.Errorf("%v: err = %v, want failure %v", tt.env, err, tt.fail)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := config.Parse(map[string]string{
		"NUKI_API_TOKEN_FILE": file("token", "abc123\n"), "MQTT_PASSWORD_FILE": file("mqtt", "pw\r\n"),
		"SMTP_URL_FILE": file("smtp", "smtps://u:p@mail.example.com:465\n"), "SMTP_FROM": "a@example.com",
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.NukiAPIToken.Reveal() != "abc123" || c.MQTTPassword.Reveal() != "pw" || c.SMTPURL.Reveal() != "smtps://u:p@mail.example.com:465" {
		t.Errorf("secrets from files: %q %q %q", c.NukiAPIToken.Reveal(), c.MQTTPassword.Reveal(), c.SMTPURL.Reveal())
	}
	_, err = config.Parse(map[string]string{"NUKI_API_TOKEN_FILE": filepath.Join(dir, "missing")}, true)
	if err == nil || !strings.Contains(err.Error(), "NUKI_API_TOKEN_FILE") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoggedConfigShowsNoSecret(t *testing.T) {
	c, err := config.Parse(map[string]string{"NUKI_API_TOKEN": "tok-9f8e", "MQTT_PASSWORD": "mq-7d6c",
		"SMTP_URL": "smtp://u:sm-5b4a@mail.example.com:587", "SMTP_FROM": "a@example.com", "API_TOKEN": "api-3c2b",
		"NUKI_WEBHOOK_SECRET": "wh-1a0f"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	for _, secret := range []string{"tok-9f8e", "mq-7d6c", "sm-5b4a", "api-3c2b", "wh-1a0f"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("%q is in the log line:\n%s", secret, buf.String())
		}
	}
}

func TestBadMQTTURLKeepsItsPasswordOut(t *testing.T) {
	_, err := config.Parse(map[string]string{"NUKI_API_TOKEN": "t", "MQTT_URL": "http://user:hunter2@broker:1883"}, true)
	if err == nil || !strings.Contains(err.Error(), "MQTT_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v: want MQTT_URL named and the password left out", err)
	}
}
