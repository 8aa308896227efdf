package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
)

func TestHelpAndUnknownCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"demo", "--help"}, {"backup", "-h"}, {"simulate", "--help"}} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("%v: err %v, output %q", args, err, out.String()+errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestRunRefusesBadConfigurationWithEveryReason(t *testing.T) {
	t.Setenv("NUKI_API_TOKEN", "")
	t.Setenv("SYNC_INTERVAL", "1s")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"run"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "NUKI_API_TOKEN is required") || !strings.Contains(err.Error(), "SYNC_INTERVAL") {
		t.Errorf("run with a bad environment: %v", err)
	}
}

func TestTemplatePreview(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"template", "preview", "reminder", "--lang", "de", "--tz", "Europe/Berlin"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Language: de", "Subject: ", "--- text/plain ---", "--- text/html ---", "Uhr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("preview lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), []string{"template", "preview", "postcard"}, &out, &errOut); err == nil {
		t.Errorf("an unknown template was previewed")
	}
}

func TestBackupOfAStoppedDaemon(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "nuki-invites.db")
	store, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv := bridge.Invitation{ID: "1-2", SmartlockID: 1, AccountUserID: 2, Name: "Ana", Status: bridge.StatusPending}
	if err := store.Commit(context.Background(), bridge.Batch{Invitations: []bridge.Invitation{inv}}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	t.Setenv("DB_PATH", db)
	dest := filepath.Join(dir, "copy.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"backup", dest}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "backup written to "+dest) {
		t.Errorf("output %q", out.String())
	}
	copyStore, err := bolt.Open(dest, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copyStore.Close()
	st, err := copyStore.Load(context.Background())
	if err != nil || st.Invitations["1-2"].Name != "Ana" {
		t.Errorf("the copy holds %v (err %v)", st.Invitations, err)
	}
	if info, err := os.Stat(dest); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the copy's mode: %v %v", info.Mode(), err)
	}
}
