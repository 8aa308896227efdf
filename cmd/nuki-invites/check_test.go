package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
)

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	store, err := bolt.Open(good, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	inv := bridge.Invitation{ID: bridge.MakeInviteID(7, 8), SmartlockID: 7, AccountUserID: 8, Name: "Ada"}
	if err := store.Commit(context.Background(), bridge.Batch{
		Locks: []bridge.Lock{{ID: 7, Name: "Front door"}}, Invitations: []bridge.Invitation{inv},
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.db")
	if err := os.WriteFile(cut, raw[:8<<10], 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, file string
		ok         bool
		say        []string
	}{
		{"sound", good, true, []string{"ok: 1 invitations, 1 locks, schema v1"}},
		{"cut", cut, false, []string{"damaged: " + cut, "cut short", "restore a backup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"check", tc.file}, &stdout, &stderr)
			if (err == nil) != tc.ok {
				t.Fatalf("check %s: %v\n%s", tc.file, err, stdout.String())
			}
			for _, want := range tc.say {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("check printed %q, want %q in it", stdout.String(), want)
				}
			}
		})
	}
	if now, _ := os.ReadFile(cut); !bytes.Equal(now, raw[:8<<10]) {
		t.Error("check changed the damaged file")
	}
}
