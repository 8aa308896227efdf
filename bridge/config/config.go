package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/robfig/cron/v3"

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

// Parse reads the configuration from environ (os.Environ() form, or nil for
// the process environment) and checks it. requireToken is false in the demo,
// which talks to the simulator. All problems come back joined in one error.
func Parse(environ map[string]string, requireToken bool) (Config, error) {
	if environ == nil {
		environ = env.ToMap(os.Environ())
	}
	var c Config
	var errs []error
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		errs = append(errs, unwrapAggregate(err)...)
	}
	for name, field := range secretFiles {
		path := environ[name+"_FILE"]
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
			continue
		}
		*field(&c) = bridge.Secret(strings.TrimRight(string(b), "\r\n"))
	}
	errs = append(errs, c.check(requireToken)...)
	return c, errors.Join(errs...)
}

func unwrapAggregate(err error) []error {
	var agg env.AggregateError
	if errors.As(err, &agg) {
		return agg.Errors
	}
	return []error{err}
}

func (c *Config) check(requireToken bool) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if requireToken && c.NukiAPIToken.IsZero() {
		bad("NUKI_API_TOKEN is required: create an API token in Nuki Web (menu API) and set it, or NUKI_API_TOKEN_FILE")
	}
	if u, err := url.Parse(c.NukiAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("NUKI_API_URL %q is not an http(s) URL", c.NukiAPIURL)
	}
	if c.DBPath == "" {
		bad("DB_PATH must not be empty")
	}
	positive := map[string]time.Duration{
		"SYNC_INTERVAL": c.SyncInterval, "INVITE_VALIDITY": c.InviteValidity,
		"REMINDER_BEFORE": c.ReminderBefore, "RESEND_COOLDOWN": c.ResendCooldown, "HA_RETENTION": c.HARetention,
		"CONFIRM_TIMEOUT": c.ConfirmTimeout,
	}
	for _, name := range []string{"SYNC_INTERVAL", "INVITE_VALIDITY", "REMINDER_BEFORE", "RESEND_COOLDOWN", "CONFIRM_TIMEOUT", "HA_RETENTION"} {
		if positive[name] <= 0 {
			bad("%s must be a positive duration such as 30m or 48h, not %s", name, positive[name])
		}
	}
	if c.SyncInterval > 0 && c.SyncInterval < 10*time.Second {
		bad("SYNC_INTERVAL %s is too short: at least 10s, to be kind to Nuki Web", c.SyncInterval)
	}
	if c.ReminderBefore >= c.InviteValidity && c.InviteValidity > 0 {
		bad("REMINDER_BEFORE (%s) must be shorter than INVITE_VALIDITY (%s)", c.ReminderBefore, c.InviteValidity)
	}
	if c.AutoResendAfter < 0 {
		bad("AUTO_RESEND_AFTER must be 0 (off) or a positive duration, not %s", c.AutoResendAfter)
	}
	if c.AutoResendMax < 0 {
		bad("AUTO_RESEND_MAX must not be negative")
	}
	if _, err := cron.ParseStandard(c.ReminderSchedule); err != nil {
		bad("REMINDER_SCHEDULE %q is not a cron schedule (five fields, e.g. \"*/15 * * * *\"): %v", c.ReminderSchedule, err)
	}
	if !c.SMTPURL.IsZero() {
		u, err := url.Parse(c.SMTPURL.Reveal())
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
		}
		if c.SMTPFrom == "" {
			bad("SMTP_FROM is required when SMTP_URL is set")
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("TIME_ZONE %q is not a known time zone (e.g. Europe/Berlin)", c.TimeZone)
		}
	}
	if u, err := url.Parse(c.MQTTURL); err != nil || u.Host == "" ||
		!(u.Scheme == "tcp" || u.Scheme == "mqtt" || u.Scheme == "ssl" || u.Scheme == "mqtts" || u.Scheme == "tls" || u.Scheme == "ws" || u.Scheme == "wss") {
		shown := "(unreadable)"
		if err == nil {
			shown = u.Redacted() // a password written into the URL stays out of the message
		}
		bad("MQTT_URL %q must look like tcp://host:1883 or ssl://host:8883", shown)
	}
	for name, topic := range map[string]string{"MQTT_BASE_TOPIC": c.MQTTBaseTopic, "MQTT_DISCOVERY_PREFIX": c.MQTTDiscoveryPrefix} {
		if topic == "" || strings.ContainsAny(topic, "+#") || strings.HasPrefix(topic, "/") || strings.HasSuffix(topic, "/") {
			bad("%s %q must be a plain topic without wildcards or leading/trailing slashes", name, topic)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR %q must be host:port, e.g. 127.0.0.1:8099", c.HTTPAddr)
	} else if c.HTTPTrustedProxy == "" && !c.Loopback() && c.APIToken.IsZero() {
		bad("HTTP_ADDR %s is reachable from other machines: set API_TOKEN, or bind to 127.0.0.1", c.HTTPAddr)
	}
	if c.HTTPTrustedProxy != "" && net.ParseIP(c.HTTPTrustedProxy) == nil {
		bad("HTTP_TRUSTED_PROXY %q is not an IP address", c.HTTPTrustedProxy)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("LOG_LEVEL %q must be debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT %q must be text or json", c.LogFormat)
	}
	return errs
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
