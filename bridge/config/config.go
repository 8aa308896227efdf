package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Config is the daemon's whole configuration. Secrets are bridge.Secret, so
// logging a Config never shows them.
type Config struct {
	// Nuki Web
	NukiAPIToken      bridge.Secret `env:"NUKI_API_TOKEN"`
	NukiAPIURL        string        `env:"NUKI_API_URL" envDefault:"https://api.nuki.io"`
	NukiAdvancedAPI   bool          `env:"NUKI_ADVANCED_API" envDefault:"false"`
	NukiWebhookSecret bridge.Secret `env:"NUKI_WEBHOOK_SECRET"`

	// Store and sync
	DBPath         string        `env:"DB_PATH" envDefault:"./nuki-invites.db"`
	SyncInterval   time.Duration `env:"SYNC_INTERVAL" envDefault:"5m"`
	InviteValidity time.Duration `env:"INVITE_VALIDITY" envDefault:"48h"`
	ReminderBefore time.Duration `env:"REMINDER_BEFORE" envDefault:"12h"`

	// Lifecycle
	ResendCooldown     time.Duration `env:"RESEND_COOLDOWN" envDefault:"10m"`
	ConfirmTimeout     time.Duration `env:"CONFIRM_TIMEOUT" envDefault:"1h"`
	ReminderSchedule   string        `env:"REMINDER_SCHEDULE" envDefault:"*/15 * * * *"`
	AutoResendAfter    time.Duration `env:"AUTO_RESEND_AFTER" envDefault:"0s"`
	AutoResendOnExpiry bool          `env:"AUTO_RESEND_ON_EXPIRY" envDefault:"false"`
	AutoResendMax      int           `env:"AUTO_RESEND_MAX" envDefault:"2"`
	ExposeCodes        bool          `env:"EXPOSE_CODES" envDefault:"false"`

	// Keypad codes
	KeypadEmailBefore  time.Duration `env:"KEYPAD_EMAIL_BEFORE" envDefault:"24h"`  // 0: when the window opens
	KeypadCleanupAfter DurationOrOff `env:"KEYPAD_CLEANUP_AFTER" envDefault:"24h"` // off (0): never deleted

	// Email
	SMTPURL     bridge.Secret `env:"SMTP_URL"` // smtp://user:pass@host:587 (STARTTLS) or smtps://…:465
	SMTPFrom    string        `env:"SMTP_FROM"`
	AdminEmail  string        `env:"ADMIN_EMAIL"`
	TemplateDir string        `env:"TEMPLATE_DIR"`
	TimeZone    string        `env:"TIME_ZONE"` // IANA name for dates in emails; default the system's

	// MQTT and Home Assistant
	MQTTURL             string        `env:"MQTT_URL" envDefault:"tcp://127.0.0.1:1883"`
	MQTTCAFile          string        `env:"MQTT_CA_FILE"`
	MQTTInsecure        bool          `env:"MQTT_INSECURE" envDefault:"false"`
	MQTTUsername        string        `env:"MQTT_USERNAME"`
	MQTTPassword        bridge.Secret `env:"MQTT_PASSWORD"`
	MQTTClientID        string        `env:"MQTT_CLIENT_ID"`
	MQTTBaseTopic       string        `env:"MQTT_BASE_TOPIC" envDefault:"nuki_invites"`
	MQTTDiscoveryPrefix string        `env:"MQTT_DISCOVERY_PREFIX" envDefault:"homeassistant"`
	HARetention         time.Duration `env:"HA_RETENTION" envDefault:"168h"`

	// HTTP API, web page and webhook
	HTTPAddr         string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8099"`
	HTTPTrustedProxy string        `env:"HTTP_TRUSTED_PROXY"` // add-on: 172.30.32.2, the only peer allowed
	HTTPAllowedHosts []string      `env:"HTTP_ALLOWED_HOSTS"` // host names the page and API answer to, besides localhost and the bound address
	APIToken         bridge.Secret `env:"API_TOKEN"`

	// Logging
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`
}

// secretFiles maps each secret to the variable naming a file that holds it.
var secretFiles = map[string]func(*Config) *bridge.Secret{
	"NUKI_API_TOKEN":      func(c *Config) *bridge.Secret { return &c.NukiAPIToken },
	"NUKI_WEBHOOK_SECRET": func(c *Config) *bridge.Secret { return &c.NukiWebhookSecret },
	"SMTP_URL":            func(c *Config) *bridge.Secret { return &c.SMTPURL },
	"MQTT_PASSWORD":       func(c *Config) *bridge.Secret { return &c.MQTTPassword },
	"API_TOKEN":           func(c *Config) *bridge.Secret { return &c.APIToken },
}

// SecretVars lists the variables that hold secrets; each also has a *_FILE form.
func SecretVars() []string {
	names := make([]string, 0, len(secretFiles))
	for n := range secretFiles {
		names = append(names, n)
	}
	return names
}

// Parse reads the configuration from environ (a map of variables, or nil for
// the process environment) and checks everything that needs no network: URLs,
// ports, the template folder, the CA file, ranges and the schedule.
// requireToken is false in the demo, which talks to the simulator. All
// problems come back joined in one error, one line each, naming the variable;
// no line holds a secret or a URL's password, and bad values are quoted cut
// short.
func Parse(environ map[string]string, requireToken bool) (Config, error) {
	if environ == nil {
		environ = env.ToMap(os.Environ())
	}
	var c Config
	var errs []error
	unread := make(map[string]bool)
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		for _, p := range envProblems(err, environ) {
			unread[p.variable] = true
			errs = append(errs, p.err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(secretFiles)) {
		path := environ[name+"_FILE"]
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
			unread[name] = true
			continue
		}
		*secretFiles[name](&c) = bridge.Secret(strings.TrimRight(string(b), "\r\n"))
	}
	errs = append(errs, c.check(requireToken, unread)...)
	return c, errors.Join(errs...)
}

// check returns every problem of c, leaving out the variables in unread,
// whose values could not be read and were reported already.
func (c *Config) check(requireToken bool, unread map[string]bool) []error {
	var errs []error
	bad := func(variable, format string, args ...any) {
		if !unread[variable] {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	badURL := func(variable string, err error) {
		if err != nil {
			bad(variable, "%s: %w", variable, err)
		}
	}
	if requireToken && c.NukiAPIToken.IsZero() {
		bad("NUKI_API_TOKEN", "NUKI_API_TOKEN is required: create an API token in Nuki Web (menu API) and set it, or NUKI_API_TOKEN_FILE")
	}
	badURL("NUKI_API_URL", nukiRule.check(c.NukiAPIURL))
	if c.DBPath == "" {
		bad("DB_PATH", "DB_PATH must not be empty")
	}
	positive := map[string]time.Duration{
		"SYNC_INTERVAL": c.SyncInterval, "INVITE_VALIDITY": c.InviteValidity,
		"REMINDER_BEFORE": c.ReminderBefore, "RESEND_COOLDOWN": c.ResendCooldown, "HA_RETENTION": c.HARetention,
		"CONFIRM_TIMEOUT": c.ConfirmTimeout,
	}
	for _, name := range []string{"SYNC_INTERVAL", "INVITE_VALIDITY", "REMINDER_BEFORE", "RESEND_COOLDOWN", "CONFIRM_TIMEOUT", "HA_RETENTION"} {
		if positive[name] <= 0 {
			bad(name, "%s must be a positive duration such as 30m or 48h, not %s", name, positive[name])
		}
	}
	if c.SyncInterval > 0 && c.SyncInterval < 10*time.Second {
		bad("SYNC_INTERVAL", "SYNC_INTERVAL %s is too short: at least 10s, to be kind to Nuki Web", c.SyncInterval)
	}
	if c.ReminderBefore >= c.InviteValidity && c.InviteValidity > 0 && !unread["INVITE_VALIDITY"] {
		bad("REMINDER_BEFORE", "REMINDER_BEFORE (%s) must be shorter than INVITE_VALIDITY (%s)", c.ReminderBefore, c.InviteValidity)
	}
	if c.AutoResendAfter < 0 {
		bad("AUTO_RESEND_AFTER", "AUTO_RESEND_AFTER must be 0 (off) or a positive duration, not %s", c.AutoResendAfter)
	}
	if c.AutoResendMax < 0 || c.AutoResendMax > MaxAutoResend {
		bad("AUTO_RESEND_MAX", "AUTO_RESEND_MAX: expected 0 to %d re-sends, not %d", MaxAutoResend, c.AutoResendMax)
	}
	if err := CheckReminderSchedule(c.ReminderSchedule); err != nil {
		bad("REMINDER_SCHEDULE", "REMINDER_SCHEDULE: %w", err)
	}
	if err := CheckKeypadEmailBefore(c.KeypadEmailBefore); err != nil {
		bad("KEYPAD_EMAIL_BEFORE", "KEYPAD_EMAIL_BEFORE: %w", err)
	}
	if err := CheckKeypadCleanupAfter(c.KeypadCleanupAfter); err != nil {
		bad("KEYPAD_CLEANUP_AFTER", "KEYPAD_CLEANUP_AFTER: %w", err)
	}
	if !c.SMTPURL.IsZero() {
		badURL("SMTP_URL", CheckSMTPURL(c.SMTPURL.Reveal()))
		if c.SMTPFrom == "" {
			bad("SMTP_FROM", "SMTP_FROM is required when SMTP_URL is set")
		}
	}
	if c.TemplateDir != "" {
		if err := checkDir(c.TemplateDir); err != nil {
			bad("TEMPLATE_DIR", "TEMPLATE_DIR: %s %s", quote(c.TemplateDir), err)
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("TIME_ZONE", "TIME_ZONE: %s is not a known time zone (e.g. Europe/Berlin)", quote(c.TimeZone))
		}
	}
	badURL("MQTT_URL", CheckMQTTURL(c.MQTTURL))
	if c.MQTTCAFile != "" {
		if err := checkCAFile(c.MQTTCAFile); err != nil {
			bad("MQTT_CA_FILE", "MQTT_CA_FILE: %s %s", quote(c.MQTTCAFile), err)
		}
	}
	for _, name := range []string{"MQTT_BASE_TOPIC", "MQTT_DISCOVERY_PREFIX"} {
		topic := map[string]string{"MQTT_BASE_TOPIC": c.MQTTBaseTopic, "MQTT_DISCOVERY_PREFIX": c.MQTTDiscoveryPrefix}[name]
		if topic == "" || strings.ContainsAny(topic, "+#") || strings.HasPrefix(topic, "/") || strings.HasSuffix(topic, "/") {
			bad(name, "%s %s must be a plain topic without wildcards or leading/trailing slashes", name, quote(topic))
		}
	}
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "HTTP_ADDR: %s %s", quote(c.HTTPAddr), err)
	} else if c.HTTPTrustedProxy == "" && !c.Loopback() && c.APIToken.IsZero() && !unread["API_TOKEN"] {
		bad("HTTP_ADDR", "HTTP_ADDR %s is reachable from other machines: set API_TOKEN, or bind to 127.0.0.1", c.HTTPAddr)
	}
	if c.HTTPTrustedProxy != "" && net.ParseIP(c.HTTPTrustedProxy) == nil {
		bad("HTTP_TRUSTED_PROXY", "HTTP_TRUSTED_PROXY %s is not an IP address", quote(c.HTTPTrustedProxy))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("LOG_LEVEL", "LOG_LEVEL %s must be debug, info, warn or error", quote(c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "LOG_FORMAT %s must be text or json", quote(c.LogFormat))
	}
	return errs
}

// checkDir checks that path is a directory this process can read.
func checkDir(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("does not exist")
	case err != nil:
		return fmt.Errorf("cannot be read: %w", pathReason(err))
	case !info.IsDir():
		return errors.New("is not a directory")
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", pathReason(err))
	}
	return f.Close()
}

// checkCAFile checks that path is a readable file of PEM certificates.
func checkCAFile(path string) error {
	pem, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("does not exist")
	case err != nil:
		return fmt.Errorf("cannot be read: %w", pathReason(err))
	case !x509.NewCertPool().AppendCertsFromPEM(pem):
		return errors.New("holds no PEM certificate")
	}
	return nil
}

// pathReason is the reason of a file system error without the path, which
// the message quotes already.
func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Loopback reports whether HTTP_ADDR only listens on the loopback interface.
func (c *Config) Loopback() bool {
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
