package bolt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// restoredState opens a backup as a database and loads it.
func restoredState(t *testing.T, path string) bridge.State {
	t.Helper()
	s := openAt(t, path)
	defer s.Close()
	return mustLoad(t, s)
}

func TestBackupRestoresTheSameData(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(3, 4, 5, 6))
	want := mustLoad(t, s)
	dir := t.TempDir()

	tests := []struct {
		name   string
		backup func(dest string) error
	}{
		{"Backup to a writer", func(dest string) error {
			var buf bytes.Buffer
			n, err := s.Backup(&buf)
			if err != nil {
				return err
			}
			if n != int64(buf.Len()) {
				t.Errorf("Backup reported %d bytes, wrote %d", n, buf.Len())
			}
			return os.WriteFile(dest, buf.Bytes(), 0o600)
		}},
		{"BackupFile while open", s.BackupFile},
		{"BackupPath of a closed database", func(dest string) error {
			if err := s.Close(); err != nil {
				return err
			}
			return BackupPath(dbPath, dest, time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".db")
			if err := tt.backup(dest); err != nil {
				t.Fatal(err)
			}
			requireMode(t, dest, 0o600)
			if got := restoredState(t, dest); !reflect.DeepEqual(got, want) {
				t.Errorf("restored backup differs from the database")
			}
		})
	}
}

func TestBackupFileReplacesAnOldBackupAndLeavesNoTemporaryFile(t *testing.T) {
	s, _ := openTest(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(dest, []byte("an old backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 1, Name: "Gate"}}})
	if err := s.BackupFile(dest); err != nil {
		t.Fatal(err)
	}
	requireMode(t, dest, 0o600)
	if got := restoredState(t, dest).Locks[1].Name; got != "Gate" {
		t.Errorf("backup holds lock name %q, want Gate", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("backup directory holds %d entries, want only the backup", len(entries))
	}
}

func TestBackupRefusals(t *testing.T) {
	t.Run("BackupPath while the database is open", func(t *testing.T) {
		_, dbPath := openTest(t)
		dest := filepath.Join(t.TempDir(), "backup.db")
		err := BackupPath(dbPath, dest, 50*time.Millisecond)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by another nuki-invites process") {
			t.Errorf("BackupPath of an open database: %v, want ErrLocked", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed backup left %s behind", dest)
		}
	})
	t.Run("BackupPath of a missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing.db")
		err := BackupPath(missing, filepath.Join(t.TempDir(), "backup.db"), time.Second)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("BackupPath of a missing file: %v, want a not-exist error", err)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("BackupPath created the missing database")
		}
	})
	t.Run("BackupPath of something else", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(other, []byte("not a database"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := BackupPath(other, filepath.Join(t.TempDir(), "backup.db"), time.Second); err == nil {
			t.Errorf("BackupPath of a text file succeeded")
		}
	})
	t.Run("BackupFile onto the database itself", func(t *testing.T) {
		s, dbPath := openTest(t)
		mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 1, Name: "Gate"}}})
		if err := s.BackupFile(dbPath); !errors.Is(err, bridge.ErrInvalid) {
			t.Errorf("BackupFile onto the database: %v, want ErrInvalid", err)
		}
		if got := mustLoad(t, s).Locks[1].Name; got != "Gate" {
			t.Errorf("database after the refused backup holds %q", got)
		}
	})
}
