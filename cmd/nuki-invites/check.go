package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/bolt"
)

// checkCommand verifies a database file without changing it and exits
// non-zero when it is damaged.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "check [FILE]\n\nVerifies a database file (DB_PATH when FILE is left out) without changing it:\n"+
		"every page, and every record. Exits non-zero when the file is damaged.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := os.Getenv("DB_PATH")
	if fs.NArg() > 0 {
		path = fs.Arg(0)
	}
	if fs.NArg() > 1 || path == "" {
		fs.Usage()
		return errors.New("check: name the database file to verify")
	}
	sum, err := bolt.Check(ctx, path, time.Second)
	var damage *bolt.DamageError
	switch {
	case errors.As(err, &damage):
		fmt.Fprintf(stdout, "damaged: %s\n", path)
		for _, p := range damage.Problems {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
		fmt.Fprintln(stdout, damage.Recovery())
		return fmt.Errorf("check: %s is damaged", path)
	case errors.Is(err, bolt.ErrLocked):
		return fmt.Errorf("check: %w; stop nuki-invites first, or check a backup (nuki-invites backup FILE)", err)
	case err != nil:
		return fmt.Errorf("check: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %d invitations, %d locks, schema v%d\n", sum.Invitations, sum.Locks, sum.Schema)
	return nil
}
