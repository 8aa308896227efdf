package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mail"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
	"github.com/nuki-invites/nuki-invites/bridge/schedule"
)

// shutdownTimeout bounds how long the parts get to stop after a signal.
const shutdownTimeout = 10 * time.Second

// daemon is the wired bridge: the store, Nuki Web, the service and every part
// that runs beside it.
type daemon struct {
	cfg   config.Config
	log   *slog.Logger
	now   func() time.Time
	store *bolt.Store
	snap  *bolt.Snapshotter // keeps <db>.snapshot current for file-copying backups
	svc   *bridge.Service
	parts []part

	// configurationURL is where Home Assistant's device pages link to:
	// the add-on's page, homeassistant://hassio/ingress/<slug>; empty
	// outside the add-on or when the Supervisor did not name the slug.
	configurationURL string

	stopTimeout time.Duration // how long the parts get to stop; shutdownTimeout when 0
}

// part is one long-running piece; Run returns nil once ctx ends.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// runCommand runs the daemon from the environment.
func runCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", "[run]\n\nRuns the daemon. Configuration comes from the environment (see the README).", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, nil, "configuration", wiring{}, stderr)
}

// serve parses the configuration from environ (nil: the process
// environment), then runs the daemon with w until ctx ends. what names the
// configuration's source in errors.
func serve(ctx context.Context, environ map[string]string, what string, w wiring, stderr io.Writer) error {
	cfg, err := config.Parse(environ, true)
	if err != nil {
		return fmt.Errorf("%s:\n%w", what, err)
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	mqtt.RoutePahoLogs(logger) // process-wide: once, here
	d, err := newDaemon(ctx, cfg, logger, w)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// wiring is what the configuration does not say: what the add-on learns
// from the Supervisor, and what tests inject. The zero value is a
// standalone daemon.
type wiring struct {
	httpClient       *http.Client     // talks to Nuki Web; the client's default when nil
	now              func() time.Time // the clock; time.Now when nil
	snapshotInterval time.Duration    // how often the snapshot looks for changes; bolt's default when 0
	configurationURL string           // the add-on page that device pages link to; none when empty
}

// newDaemon restores a missing database from its snapshot, opens the store
// and wires every part. On error nothing is left open.
func newDaemon(ctx context.Context, cfg config.Config, logger *slog.Logger, w wiring) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: logger, now: w.now, configurationURL: w.configurationURL}
	logger.Info("starting nuki-invites", "version", version, "db", cfg.DBPath, "nuki", config.RedactURL(cfg.NukiAPIURL))

	sum, restored, err := bolt.RestoreSnapshot(ctx, cfg.DBPath, 0)
	if err != nil {
		return nil, err
	}
	if restored {
		logger.Warn("the database file was missing, as after restoring a backup: restored it from its snapshot",
			"db", cfg.DBPath, "snapshot", bolt.SnapshotPath(cfg.DBPath),
			"invitations", sum.Invitations, "locks", sum.Locks, "authorizations", sum.Auths)
	}
	d.store, err = bolt.Open(cfg.DBPath, bolt.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.store.Close()
		}
	}()

	var mailer bridge.Mailer
	loc := time.Local
	if cfg.TimeZone != "" {
		loc, _ = time.LoadLocation(cfg.TimeZone) // checked by config.Parse
	}
	if !cfg.SMTPURL.IsZero() || cfg.TemplateDir != "" {
		tpl, err := mail.LoadTemplates(cfg.TemplateDir, mail.WithValidity(cfg.InviteValidity))
		if err != nil {
			return nil, fmt.Errorf("email templates: %w", err)
		}
		if !cfg.SMTPURL.IsZero() {
			sender, err := mail.NewSender(cfg.SMTPURL, cfg.SMTPFrom, tpl, mail.Options{Location: loc, Logger: logger})
			if err != nil {
				return nil, err
			}
			mailer = sender
		}
	}

	nuki := nukiweb.New(cfg.NukiAPIURL, cfg.NukiAPIToken, nukiweb.Options{HTTPClient: w.httpClient, Logger: logger, Now: w.now})
	d.svc = bridge.NewService(d.store, nuki, mailer, serviceOptions(cfg, w.now, logger))
	if err := d.svc.Open(ctx); err != nil {
		return nil, err
	}
	sched, err := schedule.New(cfg.ReminderSchedule, d.svc.Tick, logger)
	if err != nil {
		return nil, err
	}
	d.snap = d.store.Snapshotter(bolt.SnapshotOptions{Interval: w.snapshotInterval, Logger: logger})
	d.parts = append(d.parts,
		part{"sync", func(ctx context.Context) error { return d.svc.Run(ctx, cfg.SyncInterval) }},
		part{"scheduler", sched.Run},
		part{"snapshot", d.snap.Run},
	)
	if err := d.wireOutside(cfg, logger); err != nil {
		return nil, err
	}
	return d, nil
}

// Run runs every part until ctx ends or one fails, then writes the last
// snapshot and closes the store. A close error never hides the run error; a
// failed last snapshot is logged. Parts that have not stopped
// within the shutdown deadline are named in the error; the store then stays
// open, as they may still use it, and the process is expected to exit.
func (d *daemon) Run(ctx context.Context) (err error) {
	g, gctx := errgroup.WithContext(ctx)
	var (
		mu      sync.Mutex
		running = make(map[string]bool, len(d.parts))
		first   error
	)
	for _, p := range d.parts {
		running[p.name] = true
		g.Go(func() error {
			err := p.run(gctx)
			mu.Lock()
			defer mu.Unlock()
			delete(running, p.name)
			if err != nil {
				err = fmt.Errorf("%s: %w", p.name, err)
				if first == nil {
					first = err
				}
			}
			return err
		})
	}
	stopped := make(chan error, 1)
	go func() { stopped <- g.Wait() }()
	select {
	case err = <-stopped:
	case <-gctx.Done():
		timeout := cmp.Or(d.stopTimeout, shutdownTimeout)
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		select {
		case err = <-stopped:
		case <-deadline.C:
			mu.Lock()
			defer mu.Unlock()
			stuck := fmt.Errorf("shutdown: %s did not stop within %s", strings.Join(slices.Sorted(maps.Keys(running)), ", "), timeout)
			if first != nil && !errors.Is(first, context.Canceled) {
				return errors.Join(first, stuck)
			}
			return stuck
		}
	}
	defer func() {
		if cerr := d.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the database: %w", cerr)
		}
	}()
	if d.snap != nil {
		if _, serr := d.snap.Update(); serr != nil {
			d.log.Error("cannot write the last database snapshot; backups keep the previous one", "err", serr)
		}
	}
	if err == nil || errors.Is(err, context.Canceled) {
		d.log.Info("stopped")
		return nil
	}
	return err
}

// alongside runs main until it returns, and beside until main returns or ctx
// ends, so that beside never outlives a main that failed. It returns main's
// error once both are done.
func alongside(ctx context.Context, main func(context.Context) error, beside func(context.Context)) error {
	besideCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- main(ctx)
		stop()
	}()
	beside(besideCtx)
	return <-done
}
