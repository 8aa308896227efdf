//go:build !nodemo

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// simulateCommand serves a simulated Nuki Web until interrupted.
func simulateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", "simulate [flags]\n\nServes a simulated Nuki Web API (control API under /_sim/).", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	token := fs.String("token", "", "API token clients must send (empty: any)")
	locks := fs.Int("locks", 3, "locks to seed")
	users := fs.Int("users", 5, "account users to seed")
	auths := fs.Int("auths", 5, "app authorizations to seed")
	webhook := fs.String("webhook-url", "", "where to POST Advanced API outcomes")
	secret := fs.String("webhook-secret", "", "secret that signs webhooks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := newLogger(stderr, "info", "text")
	sim := nukisim.New(nukisim.Options{Token: bridge.Secret(*token), Logger: logger,
		WebhookURL: *webhook, WebhookSecret: bridge.Secret(*secret)})
	if _, err := sim.Seed(nukisim.SeedOptions{Locks: *locks, Users: *users, Auths: *auths}); err != nil {
		return err
	}
	actual, err := sim.ListenAndServe(ctx, *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Simulated Nuki Web on http://%s (NUKI_API_URL=http://%s)\n", actual, actual)
	<-ctx.Done()
	return nil
}
