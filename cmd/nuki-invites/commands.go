package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mail"
)

// templateCommand prints a rendered sample of an email template.
func templateCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("template", "template preview NAME [--lang de] [--dir TEMPLATE_DIR]\n\nPrints a rendered sample of the email template NAME (invite, reminder, resend, digest).", stderr)
	lang := fs.String("lang", "en", "language of the template")
	dir := fs.String("dir", os.Getenv("TEMPLATE_DIR"), "folder with your own templates")
	zone := fs.String("tz", os.Getenv("TIME_ZONE"), "time zone of the dates shown")
	if len(args) == 0 || args[0] != "preview" {
		fs.Usage()
		return errors.New("template: the only subcommand is preview")
	}
	rest := args[1:]
	var name string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fs.Usage()
		return errors.New("template preview: name a template: invite, reminder, resend or digest")
	}
	loc := time.Local
	if *zone != "" {
		var err error
		if loc, err = time.LoadLocation(*zone); err != nil {
			return fmt.Errorf("time zone %q: %w", *zone, err)
		}
	}
	tpl, err := mail.LoadTemplates(*dir)
	if err != nil {
		return err
	}
	r, err := mail.Preview(tpl, name, *lang, loc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Language: %s\nSubject: %s\n\n--- text/plain ---\n%s\n--- text/html ---\n%s\n", r.Language, r.Subject, r.Text, r.HTML)
	return nil
}

// backupCommand copies the database to a file. While the daemon runs it
// holds the database, so the copy comes from its HTTP API instead.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "backup FILE\n\nCopies the database (DB_PATH) to FILE, also while the daemon runs.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("backup: name the file to write")
	}
	dest := fs.Arg(0)
	cfg, err := config.Parse(nil, false)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	err = bolt.BackupPath(cfg.DBPath, dest, time.Second)
	if errors.Is(err, bolt.ErrLocked) {
		err = backupFromDaemon(ctx, cfg, dest)
	}
	if err != nil {
		return err
	}
	info, err := os.Stat(dest)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", dest, info.Size())
	return nil
}

// backupFromDaemon downloads a hot backup from the running daemon.
func backupFromDaemon(ctx context.Context, cfg config.Config, dest string) error {
	url := "http://" + localAddr(cfg.HTTPAddr) + "/api/v1/backup"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if !cfg.APIToken.IsZero() {
		req.Header.Set("Authorization", "Bearer "+cfg.APIToken.Reveal())
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("the database is in use and the daemon's API at %s does not answer: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var problem struct{ Detail string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&problem)
		if problem.Detail != "" {
			return fmt.Errorf("the daemon refused the backup: %s: %s", resp.Status, problem.Detail)
		}
		return fmt.Errorf("the daemon refused the backup: %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".nuki-invites-backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// localAddr turns a listen address into one to dial on this machine.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// healthcheckCommand asks the local daemon's /healthz; the Docker
// HEALTHCHECK runs it, as the image has no curl.
func healthcheckCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("healthcheck", "healthcheck [--addr host:port]\n\nExits 0 when the daemon answers /healthz.", stderr)
	addr := fs.String("addr", envOr("HTTP_ADDR", "127.0.0.1:8099"), "the daemon's HTTP address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+localAddr(*addr)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
