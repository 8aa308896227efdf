package main

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// wireOutside adds the parts that face the outside: the HTTP API, page and
// webhook, and Home Assistant over MQTT.
func (d *daemon) wireOutside(cfg config.Config, logger *slog.Logger) error {
	extra := map[string]http.Handler{
		"GET /api/v1/backup": backupHandler(d.store.BackupFile, cfg.APIToken, logger),
	}
	if !cfg.NukiWebhookSecret.IsZero() {
		extra["POST /webhook/nuki"] = nukiweb.NewWebhookHandler(cfg.NukiWebhookSecret, d.svc,
			nukiweb.WebhookOptions{Logger: logger})
	}
	srv, err := web.New(web.Options{
		Service: d.svc, Addr: cfg.HTTPAddr, TrustedProxy: cfg.HTTPTrustedProxy, APIToken: cfg.APIToken,
		ExposeCodes: cfg.ExposeCodes, Extra: extra, Logger: logger,
	})
	if err != nil {
		return err
	}
	d.parts = append(d.parts, part{"web", srv.Run})

	mqtt.RoutePahoLogs(logger)
	ha := mqtt.New(d.svc, d.store, mqtt.Options{
		URL: cfg.MQTTURL, Username: cfg.MQTTUsername, Password: cfg.MQTTPassword, ClientID: cfg.MQTTClientID,
		CAFile: cfg.MQTTCAFile, Insecure: cfg.MQTTInsecure, BaseTopic: cfg.MQTTBaseTopic,
		DiscoveryPrefix: cfg.MQTTDiscoveryPrefix, Retention: cfg.HARetention, Version: version, Logger: logger,
	})
	d.svc.Subscribe(ha)
	d.parts = append(d.parts, part{"mqtt", ha.Run})
	return nil
}

// backupHandler serves a hot copy of the database, for `nuki-invites backup`
// while the daemon runs. Only this machine may ask, with the API token when
// one is set. The copy goes to a temporary file first, so a slow client never
// holds a database transaction open.
func backupHandler(backup func(path string) error, token bridge.Secret, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "backups are served to this machine only", http.StatusForbidden)
			return
		}
		if !token.IsZero() && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token.Reveal())) != 1 {
			http.Error(w, "the API token is missing or wrong", http.StatusUnauthorized)
			return
		}
		dir, err := os.MkdirTemp("", "nuki-invites-backup-")
		if err != nil {
			http.Error(w, "no room for the backup: "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "nuki-invites.db")
		if err := backup(path); err != nil {
			logger.Error("backup failed", "err", err)
			http.Error(w, "backup failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeFile(w, r, path)
	})
}
