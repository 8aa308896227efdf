package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MaxAutoResend is the largest AUTO_RESEND_MAX.
const MaxAutoResend = 10

// MaxKeypadEmailBefore is the longest KEYPAD_EMAIL_BEFORE: a keypad code
// is e-mailed at most 30 days before its window opens, so that it does not
// wait in an inbox for longer.
const MaxKeypadEmailBefore = 30 * 24 * time.Hour

// MaxKeypadCleanupAfter is the longest KEYPAD_CLEANUP_AFTER other than off:
// an ended keypad code takes one of a lock's 200 places in Nuki Web for at
// most 30 days.
const MaxKeypadCleanupAfter = 30 * 24 * time.Hour

// MinReminderInterval is the shortest time REMINDER_SCHEDULE may leave
// between two runs.
const MinReminderInterval = time.Minute

// mqttSchemes are the MQTT_URL schemes: plain TCP, TLS and WebSocket.
var mqttSchemes = []string{"tcp", "mqtt", "ssl", "mqtts", "tls", "ws", "wss"}

// MQTTSchemes returns the schemes MQTT_URL accepts, in a slice the caller
// owns.
func MQTTSchemes() []string { return slices.Clone(mqttSchemes) }

// The rules for the three URLs of the configuration.
var (
	mqttRule = urlRule{
		schemes: mqttSchemes, needPort: true, show: true,
		example: "tcp://host:1883, or ssl://host:8883 for TLS",
	}
	smtpRule = urlRule{
		schemes: []string{"smtp", "smtps"}, noPath: true,
		example: "smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465",
	}
	nukiRule = urlRule{schemes: []string{"https", "http"}, show: true, example: "https://api.nuki.io"}
)

// CheckMQTTURL checks an MQTT_URL: one of MQTTSchemes(), a host and a port from
// 1 to 65535 (WebSocket URLs may leave the port out). The error quotes the
// URL with its password redacted.
func CheckMQTTURL(s string) error { return mqttRule.check(s) }

// CheckSMTPURL checks an SMTP_URL: smtp or smtps, a host, no path and, when
// given, a port from 1 to 65535. The URL is a secret: the error never quotes
// it, not even redacted, since some providers log in with a token as user.
func CheckSMTPURL(s string) error { return smtpRule.check(s) }

// CheckReminderSchedule checks a REMINDER_SCHEDULE: a cron schedule of five
// fields or a descriptor such as @hourly or "@every 5m", which runs at all and
// leaves at least MinReminderInterval between two runs. The error quotes the
// schedule.
func CheckReminderSchedule(spec string) error {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("%s is not a cron schedule of five fields (minute hour day month weekday), e.g. \"*/15 * * * *\": %s", quote(spec), cut(err.Error()))
	}
	first := sched.Next(time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC))
	if first.IsZero() {
		return fmt.Errorf("%s never runs", quote(spec))
	}
	if gap := sched.Next(first).Sub(first); gap < MinReminderInterval {
		return fmt.Errorf("%s runs every %s; at most once a minute, e.g. \"*/15 * * * *\"", quote(spec), gap)
	}
	return nil
}

// CheckKeypadEmailBefore checks a KEYPAD_EMAIL_BEFORE: 0 (the e-mail goes
// out when the window opens) up to MaxKeypadEmailBefore.
func CheckKeypadEmailBefore(d time.Duration) error {
	if d < 0 || d > MaxKeypadEmailBefore {
		return fmt.Errorf("expected 0 (when the window opens) up to %s, not %s", days(MaxKeypadEmailBefore), d)
	}
	return nil
}

// CheckKeypadCleanupAfter checks a KEYPAD_CLEANUP_AFTER: off, or a positive
// duration up to MaxKeypadCleanupAfter.
func CheckKeypadCleanupAfter(d DurationOrOff) error {
	if d < 0 || time.Duration(d) > MaxKeypadCleanupAfter {
		return fmt.Errorf("expected off (or 0: never deleted) or a duration up to %s, not %s", days(MaxKeypadCleanupAfter), time.Duration(d))
	}
	return nil
}

// days writes a whole number of days as hours, the largest unit a duration
// takes, with the days in brackets: "720h (30 days)".
func days(d time.Duration) string {
	return fmt.Sprintf("%dh (%d days)", int(d.Hours()), int(d.Hours())/24)
}

// urlRule says what a URL of the configuration must look like.
type urlRule struct {
	schemes  []string
	example  string // the form shown in every message
	needPort bool   // a port is required, except for WebSocket URLs
	noPath   bool
	show     bool // messages quote the URL, redacted; false for secrets
}

// check returns what is wrong with s, or nil.
func (r urlRule) check(s string) error {
	shown := "the URL "
	if r.show {
		shown = quote(RedactURL(s)) + " "
	}
	if !strings.Contains(s, "://") {
		return fmt.Errorf("%shas no scheme; write %s", shown, r.example)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%sis not a URL (%s); write %s, with special characters in the password URL-encoded (%%40 for @, %%2F for /)",
			shown, urlReason(err), r.example)
	}
	if !slices.Contains(r.schemes, u.Scheme) {
		if !isScheme(u.Scheme) {
			return fmt.Errorf("%shas no scheme; write %s", shown, r.example)
		}
		return fmt.Errorf("%shas the scheme %s, not one of %s; write %s", shown, quote(u.Scheme), strings.Join(r.schemes, ", "), r.example)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%snames no host; write %s", shown, r.example)
	}
	port := u.Port()
	if port == "" && r.needPort && u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("%shas no port; write %s", shown, r.example)
	}
	if port != "" {
		if err := checkPort(port); err != nil {
			return fmt.Errorf("%s%w", shown, err)
		}
	}
	if r.noPath && u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%shas a path; write %s", shown, r.example)
	}
	return nil
}

// checkPort checks a port number from 1 to 65535.
func checkPort(port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has the port %s; a port is a number from 1 to 65535", quote(port))
	}
	return nil
}

// checkListenAddr checks host:port for a listener with a port from 1 to
// 65535.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port, e.g. 127.0.0.1:8099")
	}
	return checkPort(port)
}

// urlReason is url.Parse's reason for rejecting a URL without the URL, which
// url.Error quotes whole, and without the pieces of it that some reasons
// quote: those may belong to a password with an unencoded "/".
func urlReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var escape url.EscapeError
	var host url.InvalidHostError
	msg := err.Error()
	switch {
	case errors.As(err, &escape):
		return "a % that does not start an escape such as %40"
	case errors.As(err, &host):
		return "an invalid character in the host name"
	case strings.HasPrefix(msg, "invalid port"):
		return "the port is not a number"
	case strings.Contains(msg, `"`):
		return "it cannot be read"
	}
	return strings.TrimPrefix(msg, "net/url: ")
}
