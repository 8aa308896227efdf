package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/config"
)

// maxDiagnostics bounds the bundle taken from a running daemon.
const maxDiagnostics = 256 << 20

// diagnosticsCommand writes a diagnostics bundle (bridge.Diagnostics) to a
// new file. A stopped daemon's database is read directly; while the daemon
// runs it holds the database, so the bundle comes from its HTTP API instead.
// Nuki Web is never asked.
func diagnosticsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlags("diagnostics", "diagnostics FILE\n\n"+
		"Writes a diagnostics bundle to FILE, a new file: every invitation's timeline and the non-secret settings,\n"+
		"without names, e-mail addresses, invite codes or secrets. Works while the daemon runs, too.", stderr)
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return errors.New("diagnostics: name the file to write")
	}
	dest := flags.Arg(0)
	if err := refuseExisting(dest); err != nil {
		return err
	}
	cfg, err := config.Parse(nil, false)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	bundle, err := diagnosticsFromDatabase(ctx, cfg)
	if errors.Is(err, bolt.ErrLocked) {
		bundle, err = diagnosticsFromDaemon(ctx, cfg)
	}
	if err != nil {
		return err
	}
	if err := writeNewFile(dest, bundle); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "diagnostics written to %s (%d bytes); look it over before you share it\n", dest, len(bundle))
	return nil
}

// diagnosticsWriter returns what the daemon's HTTP API serves as
// GET /api/v1/diagnostics: the bundle of svc, indented JSON, with the
// non-secret settings of cfg.
func diagnosticsWriter(svc *bridge.Service, cfg config.Config) func(io.Writer) error {
	return func(w io.Writer) error {
		return writeDiagnostics(w, svc, cfg, bridge.DiagnosticsFromDaemon)
	}
}

// writeDiagnostics writes svc's bundle as indented JSON. source is
// bridge.DiagnosticsInfo.Source.
func writeDiagnostics(w io.Writer, svc *bridge.Service, cfg config.Config, source string) error {
	d := svc.Diagnostics(bridge.DiagnosticsInfo{Version: version, Config: diagnosticsConfig(cfg), Source: source})
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep "<email>" and "→" readable
	return enc.Encode(d)
}

// diagnosticsConfig returns the settings a bundle shows, by variable name.
// The secrets (NUKI_API_TOKEN, NUKI_WEBHOOK_SECRET, SMTP_URL, MQTT_PASSWORD,
// API_TOKEN) are left out, and so is DB_PATH; URLs keep only their scheme
// and host; settings that hold an e-mail address, a user name or a path
// only say "set" or "unset".
func diagnosticsConfig(cfg config.Config) map[string]string {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return map[string]string{
		"NUKI_API_URL":          schemeHost(cfg.NukiAPIURL),
		"NUKI_ADVANCED_API":     strconv.FormatBool(cfg.NukiAdvancedAPI),
		"SYNC_INTERVAL":         cfg.SyncInterval.String(),
		"INVITE_VALIDITY":       cfg.InviteValidity.String(),
		"REMINDER_BEFORE":       cfg.ReminderBefore.String(),
		"RESEND_COOLDOWN":       cfg.ResendCooldown.String(),
		"CONFIRM_TIMEOUT":       cfg.ConfirmTimeout.String(),
		"REMINDER_SCHEDULE":     cfg.ReminderSchedule,
		"AUTO_RESEND_AFTER":     cfg.AutoResendAfter.String(),
		"AUTO_RESEND_ON_EXPIRY": strconv.FormatBool(cfg.AutoResendOnExpiry),
		"AUTO_RESEND_MAX":       strconv.Itoa(cfg.AutoResendMax),
		"EXPOSE_CODES":          strconv.FormatBool(cfg.ExposeCodes),
		"KEYPAD_EMAIL_BEFORE":   cfg.KeypadEmailBefore.String(),
		"KEYPAD_CLEANUP_AFTER":  cfg.KeypadCleanupAfter.String(),
		"SMTP_FROM":             set(cfg.SMTPFrom),
		"ADMIN_EMAIL":           set(cfg.AdminEmail),
		"TEMPLATE_DIR":          set(cfg.TemplateDir),
		"TIME_ZONE":             cfg.TimeZone,
		"MQTT_URL":              schemeHost(cfg.MQTTURL),
		"MQTT_CA_FILE":          set(cfg.MQTTCAFile),
		"MQTT_INSECURE":         strconv.FormatBool(cfg.MQTTInsecure),
		"MQTT_USERNAME":         set(cfg.MQTTUsername),
		"MQTT_CLIENT_ID":        set(cfg.MQTTClientID),
		"MQTT_BASE_TOPIC":       cfg.MQTTBaseTopic,
		"MQTT_DISCOVERY_PREFIX": cfg.MQTTDiscoveryPrefix,
		"HA_RETENTION":          cfg.HARetention.String(),
		"HTTP_ADDR":             cfg.HTTPAddr,
		"HTTP_TRUSTED_PROXY":    cfg.HTTPTrustedProxy,
		"HTTP_ALLOWED_HOSTS":    strconv.Itoa(len(cfg.HTTPAllowedHosts)) + " names",
		"LOG_LEVEL":             cfg.LogLevel,
		"LOG_FORMAT":            cfg.LogFormat,
	}
}

// schemeHost returns scheme://host[:port] of a URL, without anything else;
// "set" for one that does not parse.
func schemeHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "set"
	}
	return u.Scheme + "://" + u.Host
}

// diagnosticsFromDatabase builds the bundle from a stopped daemon's
// database. The error wraps bolt.ErrLocked while the daemon runs.
func diagnosticsFromDatabase(ctx context.Context, cfg config.Config) (_ []byte, err error) {
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return nil, fmt.Errorf("diagnostics: no database at DB_PATH: %w", err)
	}
	store, err := bolt.Open(cfg.DBPath, bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// No Nuki and no mailer: the bundle reads the stored state only.
	svc := bridge.NewService(store, nil, nil, bridge.Options{
		Validity: cfg.InviteValidity, ReminderBefore: cfg.ReminderBefore, ConfirmTimeout: cfg.ConfirmTimeout,
		AdminEmail: cfg.AdminEmail,
	})
	if err := svc.Open(ctx); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeDiagnostics(&buf, svc, cfg, bridge.DiagnosticsFromDatabase); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// diagnosticsFromDaemon fetches the bundle from the running daemon.
func diagnosticsFromDaemon(ctx context.Context, cfg config.Config) ([]byte, error) {
	endpoint := "http://" + localAddr(cfg.HTTPAddr) + "/api/v1/diagnostics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	if !cfg.APIToken.IsZero() {
		req.Header.Set("Authorization", "Bearer "+cfg.APIToken.Reveal())
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the database is in use and the daemon's API at %s does not answer: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var problem struct{ Detail string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&problem)
		if resp.StatusCode == http.StatusNotFound && problem.Detail == "" {
			return nil, fmt.Errorf("the running daemon offers no diagnostics (%s): it may be older than this command", resp.Status)
		}
		if problem.Detail != "" {
			return nil, fmt.Errorf("the daemon refused the diagnostics: %s: %s", resp.Status, problem.Detail)
		}
		return nil, fmt.Errorf("the daemon refused the diagnostics: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiagnostics+1))
	if err != nil {
		return nil, fmt.Errorf("reading the diagnostics from %s: %w", endpoint, err)
	}
	if len(body) > maxDiagnostics {
		return nil, fmt.Errorf("the daemon's diagnostics exceed %d MiB", maxDiagnostics>>20)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("the daemon's answer at %s is not a diagnostics bundle", endpoint)
	}
	return body, nil
}

// refuseExisting fails when path exists: a bundle never replaces a file.
func refuseExisting(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("diagnostics: %s exists already; name a new file", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("diagnostics: %w", err)
}

// writeNewFile writes data to path, a new file with mode 0600; it fails if
// path exists, and leaves no partial file behind.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("diagnostics: %s exists already; name a new file", path)
	}
	if err != nil {
		return fmt.Errorf("diagnostics: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("diagnostics: writing %s: %w", path, err)
	}
	return nil
}
