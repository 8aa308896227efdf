package config_test

import (
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge/config"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tcp://user:hunter2@broker:1883", "tcp://user:xxxxx@broker:1883"},
		{"user:hunter2@broker:1883", "user:xxxxx@broker:1883"},
		{"mqtt//user:hunter2@broker", "mqtt//user:xxxxx@broker"},
		{"mqtt:/user:hunter2@broker", "mqtt:xxxxx@broker"},
		{"tcp://user:hun/ter2@broker:1883", "tcp://user:xxxxx@broker:1883"},
		{"tcp://user:hun@ter2@broker:1883", "tcp://user:xxxxx@broker:1883"},
		{"tcp://user:hun:ter2@broker:1883", "tcp://user:xxxxx@broker:1883"},
		{"user:hunter2@host://broker", "user:xxxxx@host://broker"},
		{"https://user:hunter2@api.nuki.io/v1?x=1", "https://user:xxxxx@api.nuki.io/v1?x=1"},
		{"https://user@api.nuki.io", "https://user@api.nuki.io"},
		{"tcp://broker:1883", "tcp://broker:1883"},
		{"", ""},
	}
	for _, tt := range tests {
		got := config.RedactURL(tt.in)
		if got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "ter2") {
			t.Errorf("RedactURL(%q) = %q shows the password", tt.in, got)
		}
	}
}

// TestRedactURLNeverShowsThePassword puts a password between every pair of
// separators a URL may have and wants it gone.
func TestRedactURLNeverShowsThePassword(t *testing.T) {
	const password = "Pa55-w0rd"
	for _, prefix := range []string{"", "tcp://", "mqtt//", "mqtt:/", "://", "tcp:///", "1tcp://"} {
		for _, suffix := range []string{"@broker", "@broker:1883", "@broker:1883/path", "/x@broker", "@b@broker", "?q=1@broker"} {
			in := prefix + "user:" + password + suffix
			if got := config.RedactURL(in); strings.Contains(got, password) {
				t.Errorf("RedactURL(%q) = %q", in, got)
			}
		}
	}
}

func TestCheckReminderSchedule(t *testing.T) {
	for spec, want := range map[string]string{
		"*/15 * * * *": "", "* * * * *": "", "@hourly": "", "@every 1m": "", "@every 1h30m": "",
		"CRON_TZ=Europe/Berlin 0 8 * * *": "",
		"@every 1s":                       `"@every 1s" runs every 1s; at most once a minute`,
		"@every 59s":                      `"@every 59s" runs every 59s`,
		"0 0 31 4 *":                      `"0 0 31 4 *" never runs`,
		"every hour":                      `"every hour" is not a cron schedule of five fields`,
	} {
		err := config.CheckReminderSchedule(spec)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", spec, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want %s", spec, err, want)
		}
	}
}
