package addon

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/config"
)

// kind says how an option's JSON value is checked and written to the
// environment.
type kind int

const (
	text          kind = iota // a string, written as is
	secret                    // a string that is never shown in a message
	flag                      // true or false
	resends                   // a whole number from 0 to config.MaxAutoResend
	duration                  // a positive Go duration such as 48h or 1h30m
	durationOrOff             // a duration, or 0 for off
	emailBefore               // 0 up to config.MaxKeypadEmailBefore
	cleanupAfter              // off, 0, or a duration up to config.MaxKeypadCleanupAfter
	schedule                  // a cron schedule that runs at most once a minute
	zone                      // an IANA time zone name
	level                     // debug, info, warn or error
	brokerURL                 // tcp://host:1883, ssl://host:8883, …
	mailURL                   // smtp://user:pass@host:587 or smtps://…:465
)

// option maps one add-on option onto one variable of bridge/config.
type option struct {
	name string // as in config.yaml, options.json and the translations
	env  string // as parsed by bridge/config
	kind kind
}

// mapping lists every option the add-on accepts, in the order of config.yaml.
// The three broker options (mqtt_url, mqtt_username, mqtt_password) are only
// written when mqtt_url is set; otherwise the Supervisor names the broker.
var mapping = []option{
	{"nuki_api_token", "NUKI_API_TOKEN", secret},
	{"nuki_advanced_api", "NUKI_ADVANCED_API", flag},
	{"nuki_webhook_secret", "NUKI_WEBHOOK_SECRET", secret},
	{"invite_validity", "INVITE_VALIDITY", duration},
	{"reminder_before", "REMINDER_BEFORE", duration},
	{"reminder_schedule", "REMINDER_SCHEDULE", schedule},
	{"sync_interval", "SYNC_INTERVAL", duration},
	{"resend_cooldown", "RESEND_COOLDOWN", duration},
	{"confirm_timeout", "CONFIRM_TIMEOUT", duration},
	{"auto_resend_after", "AUTO_RESEND_AFTER", durationOrOff},
	{"auto_resend_on_expiry", "AUTO_RESEND_ON_EXPIRY", flag},
	{"auto_resend_max", "AUTO_RESEND_MAX", resends},
	{"expose_codes", "EXPOSE_CODES", flag},
	{"keypad_email_before", "KEYPAD_EMAIL_BEFORE", emailBefore},
	{"keypad_cleanup_after", "KEYPAD_CLEANUP_AFTER", cleanupAfter},
	{"smtp_url", "SMTP_URL", mailURL},
	{"smtp_from", "SMTP_FROM", text},
	{"admin_email", "ADMIN_EMAIL", text},
	{"time_zone", "TIME_ZONE", zone},
	{"mqtt_url", "MQTT_URL", brokerURL},
	{"mqtt_username", "MQTT_USERNAME", text},
	{"mqtt_password", "MQTT_PASSWORD", secret},
	{"mqtt_base_topic", "MQTT_BASE_TOPIC", text},
	{"mqtt_discovery_prefix", "MQTT_DISCOVERY_PREFIX", text},
	{"ha_retention", "HA_RETENTION", duration},
	{"log_level", "LOG_LEVEL", level},
}

// Names of the options that need special handling.
const (
	optToken        = "nuki_api_token"
	optMQTTURL      = "mqtt_url"
	optMQTTUsername = "mqtt_username"
	optMQTTPassword = "mqtt_password"
	optSMTPURL      = "smtp_url"
	optSMTPFrom     = "smtp_from"
)

// parseOptions checks the content of options.json and returns the variables
// it sets, keyed by option name (not variable name), leaving out options that
// are absent, null or blank. Every problem comes back joined in one error that
// names the option; no message contains the value of a secret.
func parseOptions(data []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of options: %w", err)
	}
	byName := make(map[string]option, len(mapping))
	for _, o := range mapping {
		byName[o.name] = o
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)

	values := make(map[string]string, len(raw))
	failed := make(map[string]bool)
	var errs []error
	for _, name := range names {
		o, ok := byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown option %q: this version of the add-on does not have it; remove it in the Configuration tab (YAML mode)", name))
			continue
		}
		if string(raw[name]) == "null" {
			continue
		}
		v, err := o.value(raw[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("option %s: %w", name, err))
			failed[name] = true
			continue
		}
		if v != "" {
			values[name] = v
		}
	}
	if values[optToken] == "" && !failed[optToken] {
		errs = append(errs, errors.New("option nuki_api_token is not set: the add-on needs it to read the invitations; create an API token in Nuki Web (menu API) and paste it in the add-on's Configuration tab"))
	}
	if values[optSMTPURL] != "" && values[optSMTPFrom] == "" {
		errs = append(errs, errors.New("option smtp_from is required when smtp_url is set: the sender address of the e-mails, e.g. Holiday Flat <flat@example.com>"))
	}
	if values[optMQTTURL] == "" && (values[optMQTTUsername] != "" || values[optMQTTPassword] != "") {
		errs = append(errs, errors.New("options mqtt_username and mqtt_password only apply to a broker set with mqtt_url; leave all three empty to use the broker Home Assistant's Supervisor provides"))
	}
	return values, errors.Join(errs...)
}

// value checks one option's JSON value and returns it as an environment
// value. Errors never quote a secret.
func (o option) value(raw json.RawMessage) (string, error) {
	switch o.kind {
	case flag:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", errors.New("must be true or false")
		}
		return strconv.FormatBool(b), nil
	case resends:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < 0 || f > config.MaxAutoResend {
			return "", fmt.Errorf("must be a whole number from 0 to %d, not %.20s", config.MaxAutoResend, raw)
		}
		return strconv.Itoa(int(f)), nil
	}

	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("must be text")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	switch o.kind {
	case duration, durationOrOff, emailBefore:
		d, err := time.ParseDuration(s)
		if err != nil {
			return "", fmt.Errorf("%q is not a duration: write a number with h, m or s, e.g. 48h, 90m or 1h30m", s)
		}
		if o.kind == emailBefore {
			return s, config.CheckKeypadEmailBefore(d)
		}
		if d < 0 || (d == 0 && o.kind == duration) {
			if o.kind == durationOrOff {
				return "", fmt.Errorf("%q must be 0 (off) or a positive duration such as 6h", s)
			}
			return "", fmt.Errorf("%q must be a positive duration such as 48h", s)
		}
		return s, nil
	case cleanupAfter:
		var d config.DurationOrOff
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return "", fmt.Errorf("%q is neither a duration nor off: write a number with h, m or s, e.g. 24h, or off to keep the codes", s)
		}
		return s, config.CheckKeypadCleanupAfter(d)
	case schedule:
		return s, config.CheckReminderSchedule(s)
	case zone:
		if _, err := time.LoadLocation(s); err != nil {
			return "", fmt.Errorf("%q is not a known time zone: write an IANA name such as Europe/Berlin, or leave it empty for Home Assistant's", s)
		}
		return s, nil
	case level:
		switch strings.ToLower(s) {
		case "debug", "info", "warn", "warning", "error":
			return strings.ToLower(s), nil
		}
		return "", fmt.Errorf("%q must be debug, info, warn or error", s)
	case brokerURL:
		return s, config.CheckMQTTURL(s)
	case mailURL:
		return s, config.CheckSMTPURL(s)
	}
	return s, nil
}
