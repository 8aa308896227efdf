package main

import (
	"context"
	"io"
	"os"

	"github.com/nuki-invites/nuki-invites/addon"
	"github.com/nuki-invites/nuki-invites/bridge"
)

// addonCommand runs the daemon as a Home Assistant add-on: the options come
// from /data/options.json and the broker from the Supervisor.
func addonCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("addon", "addon [--options FILE]\n\nRuns the daemon inside Home Assistant (the add-on's entry point).", stderr)
	options := fs.String("options", addon.DefaultOptionsPath, "the add-on's options file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	boot := newLogger(stderr, "info", "text")
	setup, err := addon.Prepare(ctx, addon.Options{OptionsPath: *options,
		SupervisorToken: bridge.Secret(os.Getenv("SUPERVISOR_TOKEN")), Logger: boot})
	if err != nil {
		return err
	}
	return serve(ctx, setup.Env, "add-on configuration", wiring{configurationURL: setup.ConfigurationURL}, stderr)
}
