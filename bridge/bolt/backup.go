package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database to w while the Store
// stays in use, and returns the number of bytes written. The copy holds the
// invite codes in clear: keep it private.
//
// The copy is made inside one read transaction that lasts until w has taken
// every byte. While it lasts, a commit that must grow the file waits; so do
// not hand it a slow network writer, use BackupFile and send the file.
func (s *Store) Backup(w io.Writer) (int64, error) {
	n, err := backup(s.db, w)
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", s.path, err)
	}
	return n, nil
}

// BackupFile writes a consistent copy of the database to path, with mode
// 0600, while the Store stays in use. It writes a temporary file in the same
// directory, syncs it and renames it over path, so path is never a partial
// copy. path must not be the database itself.
func (s *Store) BackupFile(path string) error {
	if err := backupFile(s.db, s.path, path); err != nil {
		return fmt.Errorf("backup %s to %s: %w", s.path, path, err)
	}
	return nil
}

// BackupPath copies the database at dbPath to dest like BackupFile, for when
// no process has it open (the backup command of a stopped daemon). It opens
// the file read-only, which needs a shared lock: while the daemon runs it
// holds the exclusive lock, and BackupPath fails after timeout with an error
// wrapping ErrLocked; a running daemon offers backups through its HTTP API
// instead. A file that is no nuki-invites database fails with
// bridge.ErrInvalid, a damaged one with a *DamageError.
func BackupPath(dbPath, dest string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := openDB(dbPath, true, timeout)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = guard(dbPath, func() error {
		return db.View(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketMeta) == nil {
				return fmt.Errorf("%w: %s is not a nuki-invites database", bridge.ErrInvalid, dbPath)
			}
			return nil
		})
	})
	if err == nil {
		err = backupFile(db, dbPath, dest)
	}
	if err != nil {
		err = fmt.Errorf("backup %s to %s: %w", dbPath, dest, err)
	}
	return errors.Join(err, db.Close())
}

func backup(db *bbolt.DB, w io.Writer) (n int64, err error) {
	err = guard(db.Path(), func() error {
		return db.View(func(tx *bbolt.Tx) error {
			n, err = tx.WriteTo(w)
			return err
		})
	})
	return n, err
}

func backupFile(db *bbolt.DB, dbPath, dest string) error {
	if same, err := sameFile(dbPath, dest); err != nil {
		return err
	} else if same {
		return fmt.Errorf("%w: the backup would overwrite the database", bridge.ErrInvalid)
	}
	return writeFileAtomic(dest, func(w io.Writer) error {
		_, err := backup(db, w)
		return err
	})
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// writeFileAtomic replaces path with what write produces, or leaves it as it
// was: a temporary file in the same directory is written, synced and renamed.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(fileMode); err != nil {
		return err
	}
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
