package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// serviceOptions returns the core's options for cfg, with the clock now
// (time.Now when nil) and logger.
func serviceOptions(cfg config.Config, now func() time.Time, logger *slog.Logger) bridge.Options {
	return bridge.Options{
		Validity: cfg.InviteValidity, ReminderBefore: cfg.ReminderBefore, ResendCooldown: cfg.ResendCooldown,
		ConfirmTimeout: cfg.ConfirmTimeout, AutoResendAfter: cfg.AutoResendAfter, AutoResendOnExpiry: cfg.AutoResendOnExpiry, AutoResendMax: cfg.AutoResendMax,
		AdvancedAPI: cfg.NukiAdvancedAPI, ExposeCodes: cfg.ExposeCodes, AdminEmail: cfg.AdminEmail,
		KeypadEmailBefore: keypadEmailBefore(cfg.KeypadEmailBefore), KeypadCleanupAfter: keypadCleanupAfter(cfg.KeypadCleanupAfter),
		Now: now, Logger: logger,
	}
}

// keypadEmailBefore is KEYPAD_EMAIL_BEFORE as bridge.Options takes it: its
// zero, when the window opens, is negative there (zero is the default).
func keypadEmailBefore(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// keypadCleanupAfter is KEYPAD_CLEANUP_AFTER as bridge.Options takes it:
// off becomes negative, never; its zero would be the default, 24h.
func keypadCleanupAfter(d config.DurationOrOff) time.Duration {
	if d.Off() {
		return -1
	}
	return time.Duration(d)
}

// wireOutside adds the parts that face the outside: the HTTP API, page and
// webhook, and Home Assistant over MQTT.
func (d *daemon) wireOutside(cfg config.Config, logger *slog.Logger) error {
	extra := map[string]http.Handler{}
	if !cfg.NukiWebhookSecret.IsZero() {
		extra["POST /webhook/nuki"] = nukiweb.NewWebhookHandler(cfg.NukiWebhookSecret, d.svc,
			nukiweb.WebhookOptions{Logger: logger})
	}
	srv, err := web.New(web.Options{
		Service: d.svc, Addr: cfg.HTTPAddr, TrustedProxy: cfg.HTTPTrustedProxy, APIToken: cfg.APIToken,
		AllowedHosts: cfg.HTTPAllowedHosts,
		ExposeCodes:  cfg.ExposeCodes, Extra: extra, Backup: d.store.BackupFile, Diagnostics: diagnosticsWriter(d.svc, cfg),
		Now: d.now, Logger: logger,
	})
	if err != nil {
		return err
	}
	d.parts = append(d.parts, part{"web", srv.Run})

	ha := mqtt.New(d.svc, d.store, mqtt.Options{
		URL: cfg.MQTTURL, Username: cfg.MQTTUsername, Password: cfg.MQTTPassword, ClientID: cfg.MQTTClientID,
		CAFile: cfg.MQTTCAFile, Insecure: cfg.MQTTInsecure, BaseTopic: cfg.MQTTBaseTopic,
		DiscoveryPrefix: cfg.MQTTDiscoveryPrefix, Retention: cfg.HARetention, Version: version,
		ConfigurationURL: d.configurationURL, Now: d.now, Logger: logger,
	})
	d.svc.Subscribe(ha)
	d.parts = append(d.parts, part{"mqtt", ha.Run})
	return nil
}
