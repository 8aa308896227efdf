package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nuki-invites/nuki-invites/addon"
	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// backupExcludes returns config.yaml's backup_exclude patterns. Each is one
// file name pattern, which the Supervisor matches against the last part of
// every path in the add-on's data folder.
func backupExcludes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		BackupExclude []string `yaml:"backup_exclude"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.BackupExclude {
		if strings.Contains(p, "/") {
			t.Fatalf("backup_exclude %q spans folders; this test copies by file name", p)
		}
	}
	return cfg.BackupExclude
}

// hotBackup copies the files of src that a backup with config.yaml's
// backup_exclude keeps into a new folder, while the daemon may be writing,
// and returns that folder and the names it left out.
func hotBackup(t *testing.T, src string) (dest string, left []string) {
	t.Helper()
	excludes := backupExcludes(t)
	dest = t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if slices.ContainsFunc(excludes, func(p string) bool { ok, _ := filepath.Match(p, e.Name()); return ok }) {
			left = append(left, e.Name())
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a temporary file renamed away meanwhile
		} else if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dest, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dest, left
}

// snapshotDaemon is a daemon wired as in production against the simulator
// and the test broker, in its own data folder.
type snapshotDaemon struct {
	t    *testing.T
	d    *daemon
	logs *bridgetest.Logs
	stop func()
}

func startSnapshotDaemon(t *testing.T, dataDir, nukiURL, broker string, run bool) *snapshotDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	base := mqtttest.Unique("snapshot")
	prefix := mqtttest.Unique("snapshotha")
	cfg, err := config.Parse(map[string]string{
		"NUKI_API_URL": nukiURL, "NUKI_API_TOKEN": "snapshot-token",
		"DB_PATH":  filepath.Join(dataDir, filepath.Base(addon.DBPath)),
		"MQTT_URL": broker, "MQTT_BASE_TOPIC": base, "MQTT_DISCOVERY_PREFIX": prefix, "MQTT_CLIENT_ID": base,
		"HTTP_ADDR": httpAddr, "LOG_LEVEL": "debug",
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshotDaemon{t: t, logs: &bridgetest.Logs{}}
	s.d, err = newDaemon(t.Context(), cfg, s.logs.Logger(), wiring{snapshotInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !run {
		t.Cleanup(func() { s.d.store.Close() })
		return s
	}
	t.Cleanup(func() {
		retained := mqtttest.Retained(t, broker, base+"/#", prefix+"/#")
		c := mqtttest.Connect(t, broker)
		for topic := range retained {
			c.Publish(topic, nil, true)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.d.Run(ctx) }()
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		s.stop = nil
	}
	t.Cleanup(func() {
		if s.stop != nil {
			s.stop()
		}
	})
	return s
}

// loadState loads what the database file at path holds.
func loadState(t *testing.T, path string) bridge.State {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitUntil polls cond until it holds, failing the test after 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDaemonRestoresTheDatabaseFromABackupOfItsFolder runs the daemon,
// copies its data folder while it runs as the Supervisor's hot backup does
// (leaving out what config.yaml's backup_exclude names), and starts a
// second daemon on that copy, as after a restore: every invitation is
// there, and the log says the database came from the snapshot. After a
// clean stop the snapshot holds exactly what the database holds.
func TestDaemonRestoresTheDatabaseFromABackupOfItsFolder(t *testing.T) {
	sim := nukisim.New(nukisim.Options{Token: "snapshot-token"})
	if _, err := sim.Seed(nukisim.SeedOptions{Locks: 2, Users: 6, Auths: 6, Accepted: 2}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	broker := mqtttest.Broker(t)

	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "options.json"), []byte(`{"nuki_api_token":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	first := startSnapshotDaemon(t, dataDir, srv.URL, broker, true)
	dbPath := first.d.cfg.DBPath
	waitUntil(t, "the first sync", func() bool { return len(first.d.svc.Invitations(bridge.Filter{})) == 6 })
	want := first.d.svc.Invitations(bridge.Filter{})
	waitUntil(t, "a snapshot with every invitation", func() bool {
		sum, err := bolt.Check(t.Context(), bolt.SnapshotPath(dbPath), time.Second)
		return err == nil && sum.Invitations == len(want)
	})

	backup, left := hotBackup(t, dataDir)
	if !slices.Contains(left, filepath.Base(dbPath)) {
		t.Errorf("the backup copied the live database file (left out only %v)", left)
	}
	if _, err := os.Stat(filepath.Join(backup, filepath.Base(bolt.SnapshotPath(dbPath)))); err != nil {
		t.Fatalf("the backup holds no snapshot: %v", err)
	}

	first.stop()
	if got, live := loadState(t, copyOf(t, bolt.SnapshotPath(dbPath))), loadState(t, dbPath); !reflect.DeepEqual(got, live) {
		t.Error("after a clean stop the snapshot differs from the database")
	}

	second := startSnapshotDaemon(t, backup, srv.URL, broker, false)
	if !strings.Contains(second.logs.String(), "restored it from its snapshot") {
		t.Errorf("the log does not say the database was restored from the snapshot:\n%s", second.logs.String())
	}
	got := second.d.svc.Invitations(bridge.Filter{})
	if len(got) != len(want) {
		t.Fatalf("the restored daemon has %d invitations, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Status != want[i].Status || got[i].Email != want[i].Email {
			t.Errorf("invitation %d after the restore: %s %s %s, want %s %s %s",
				i, got[i].ID, got[i].Status, got[i].Email, want[i].ID, want[i].Status, want[i].Email)
		}
	}
}

// copyOf copies the file at path into a new folder and returns the copy,
// so that opening it never changes the original.
func copyOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp
}
