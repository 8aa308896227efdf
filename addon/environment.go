package addon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// Defaults for Options and the values that are fixed inside the add-on.
const (
	// DefaultOptionsPath is where the Supervisor writes the saved options.
	DefaultOptionsPath = "/data/options.json"
	// DefaultSupervisorURL is the Supervisor's API inside the add-on network.
	DefaultSupervisorURL = "http://supervisor"
	// DefaultConfigDir is where the add-on's own config folder is mounted
	// (config.yaml `map: [addon_config]`); on the host it is
	// /addon_configs/<repository>_nuki_invites.
	DefaultConfigDir = "/config"

	// DBPath keeps the database on /data, the add-on's persistent volume
	// that Home Assistant backs up. Backups take the daemon's snapshot of
	// it (bolt.SnapshotPath), not the live file: see backup_exclude in
	// config.yaml.
	DBPath = "/data/nuki-invites.db"
	// HTTPAddr is the ingress listener. It listens on every interface of
	// the add-on's container and accepts only IngressProxy.
	HTTPAddr = "0.0.0.0:8099"
	// IngressProxy is the Supervisor's ingress proxy, the only peer the web
	// page and API accept inside the add-on.
	IngressProxy = "172.30.32.2"
	// TemplateFolder is the folder below the config folder whose e-mail
	// templates override the built-in ones.
	TemplateFolder = "templates"
)

// Options says where Environment finds its inputs. The zero value works
// inside the add-on except for SupervisorToken, which the caller reads from
// the SUPERVISOR_TOKEN variable the Supervisor sets.
type Options struct {
	// OptionsPath is the options file; DefaultOptionsPath when empty.
	OptionsPath string
	// ConfigDir is the add-on's config folder; DefaultConfigDir when empty.
	// TEMPLATE_DIR is set to its templates folder when that folder exists.
	ConfigDir string
	// SupervisorURL is the Supervisor API; DefaultSupervisorURL when empty.
	SupervisorURL string
	// SupervisorToken authorises the requests to the Supervisor: for the
	// MQTT broker, needed when the mqtt_url option is empty, and in Prepare
	// for the add-on's slug.
	SupervisorToken bridge.Secret
	// HTTPClient talks to the Supervisor; a client with a 10 s timeout
	// when nil.
	HTTPClient *http.Client
	// Logger receives progress (never a secret); discarded when nil.
	Logger *slog.Logger
	// Sleep waits d or until ctx ends, returning ctx's error then; a timer
	// when nil. Tests replace it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// MinBackoff and MaxBackoff bound the wait between two requests for the
	// MQTT broker: it starts at MinBackoff (1 s when 0) and doubles up to
	// MaxBackoff (30 s when 0).
	MinBackoff, MaxBackoff time.Duration
	// Hostname makes the MQTT client id; os.Hostname() when empty. Inside
	// the add-on it is stable across restarts and updates.
	Hostname string
}

// environment is one run of Environment with its defaults filled in.
type environment struct {
	opts Options
	log  *slog.Logger
}

// Environment reads the add-on's options and returns the environment for
// bridge/config.Parse: one variable per option that is set, the fixed add-on
// values (DB_PATH, HTTP_ADDR, HTTP_TRUSTED_PROXY, MQTT_CLIENT_ID and, when the
// folder exists, TEMPLATE_DIR) and MQTT_URL, MQTT_USERNAME and MQTT_PASSWORD
// for the broker. The caller owns the returned map and lays it over the
// process environment, so the add-on's values win.
//
// The broker comes from the mqtt_url, mqtt_username and mqtt_password options
// when mqtt_url is set. Otherwise Environment asks the Supervisor's services
// API, and while the Supervisor has no broker yet (the Mosquitto add-on is
// still starting or not installed) or fails with a 5xx, it waits and asks
// again until ctx ends. A 403 means the add-on may not ask and comes back at
// once.
//
// Errors name the option at fault; all problems with the options come back
// joined in one error. No error or log line contains a secret.
func Environment(ctx context.Context, o Options) (map[string]string, error) {
	e := newEnvironment(o)

	data, err := os.ReadFile(e.opts.OptionsPath)
	if err != nil {
		return nil, fmt.Errorf("reading the add-on options: %w", err)
	}
	values, err := parseOptions(data)
	if err != nil {
		return nil, fmt.Errorf("add-on options in %s: %w", e.opts.OptionsPath, err)
	}

	env := make(map[string]string, len(values)+8)
	for _, opt := range mapping {
		if v, ok := values[opt.name]; ok {
			env[opt.env] = v
		}
	}
	env["DB_PATH"] = DBPath
	env["HTTP_ADDR"] = HTTPAddr
	env["HTTP_TRUSTED_PROXY"] = IngressProxy
	env["MQTT_CLIENT_ID"] = clientID(e.opts.Hostname)
	templates := filepath.Join(e.opts.ConfigDir, TemplateFolder)
	if info, err := os.Stat(templates); err == nil && info.IsDir() {
		env["TEMPLATE_DIR"] = templates
		e.log.Info("using the e-mail templates of the add-on's config folder", "dir", templates)
	}

	if values[optMQTTURL] != "" {
		e.log.Info("MQTT broker from the mqtt_url option")
		return env, nil
	}
	if e.opts.SupervisorToken.IsZero() {
		return nil, errors.New("SUPERVISOR_TOKEN is not set, so the MQTT broker cannot be asked from the Supervisor: run inside Home Assistant or set the mqtt_url option")
	}
	b, err := e.supervisorBroker(ctx)
	if err != nil {
		return nil, err
	}
	env["MQTT_URL"] = b.url()
	if b.username != "" {
		env["MQTT_USERNAME"] = b.username
	}
	if !b.password.IsZero() {
		env["MQTT_PASSWORD"] = b.password.Reveal()
	}
	e.log.Info("MQTT broker from the Supervisor", "url", env["MQTT_URL"], "username", b.username)
	return env, nil
}

// newEnvironment fills in the defaults of o.
func newEnvironment(o Options) *environment {
	if o.OptionsPath == "" {
		o.OptionsPath = DefaultOptionsPath
	}
	if o.ConfigDir == "" {
		o.ConfigDir = DefaultConfigDir
	}
	if o.SupervisorURL == "" {
		o.SupervisorURL = DefaultSupervisorURL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	return &environment{opts: o, log: o.Logger.With("component", "addon")}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// clientID makes the MQTT client id from the container's host name, which the
// Supervisor keeps stable, so the broker sees the same client after a
// restart and a second instance of the daemon elsewhere does not collide.
func clientID(hostname string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, hostname)
	clean = strings.Trim(clean, "-")
	if clean == "" {
		clean = "addon"
	}
	return "nuki-invites-" + clean
}
