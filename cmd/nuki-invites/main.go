// Command nuki-invites keeps track of Nuki Web app-key invitations and shows
// them in Home Assistant. See the README for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `nuki-invites keeps the life of Nuki Web invitations and shows it in Home Assistant.

Usage:
  nuki-invites [run]                      run the daemon, configured from the environment
  nuki-invites demo                       run it against a simulated Nuki Web, on embedded defaults
  nuki-invites simulate [--addr A]        serve a simulated Nuki Web API
  nuki-invites backup FILE                copy the database to FILE (hot, while the daemon runs)
  nuki-invites diagnostics FILE           write a diagnostics bundle to FILE (no names, e-mails, codes)
  nuki-invites check [FILE]               verify a database file (DB_PATH by default) without changing it
  nuki-invites template preview NAME      print a rendered email template (--lang de)
  nuki-invites addon                      run as a Home Assistant add-on (reads /data/options.json)
  nuki-invites healthcheck                exit 0 when the local daemon answers /healthz
  nuki-invites version                    print the version

Every command takes --help. The environment variables are listed in the README.
`

func main() {
	tuneMemory(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "nuki-invites:", err)
		os.Exit(1)
	}
}

// run dispatches to a command. It returns flag.ErrHelp after printing help.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runCommand(ctx, args, stderr)
	case "demo":
		return demoCommand(ctx, args, stdout, stderr)
	case "simulate":
		return simulateCommand(ctx, args, stdout, stderr)
	case "backup":
		return backupCommand(ctx, args, stdout, stderr)
	case "diagnostics":
		return diagnosticsCommand(ctx, args, stdout, stderr)
	case "check":
		return checkCommand(ctx, args, stdout, stderr)
	case "template":
		return templateCommand(args, stdout, stderr)
	case "addon":
		return addonCommand(ctx, args, stderr)
	case "healthcheck":
		return healthcheckCommand(ctx, args, stderr)
	case "version":
		fs := newFlags("version", "version\n\nPrints the version.", stderr)
		if err := fs.Parse(args); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "nuki-invites", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newFlags returns a flag set that prints its usage with a line of help.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nuki-invites %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
