package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked means another process holds the database file's lock. bbolt
// allows one process per file, so while the daemon runs no other command can
// open its database.
var ErrLocked = errors.New("database file is locked")

// ErrNewerSchema means the file was written by a newer nuki-invites with a
// schema this one does not know.
var ErrNewerSchema = errors.New("unknown database schema")

// The buckets. Every bucket exists once the schema is at version 1.
var (
	bucketLocks       = []byte("locks")       // big-endian lock id → JSON bridge.Lock
	bucketUsers       = []byte("users")       // big-endian user id → JSON bridge.User
	bucketAuths       = []byte("auths")       // auth id → JSON bridge.Auth
	bucketInvitations = []byte("invitations") // invite id → JSON bridge.Invitation
	bucketCodes       = []byte("codes")       // invite id → raw invite code
	bucketRequests    = []byte("requests")    // request id → JSON bridge.Request
	bucketDiscovery   = []byte("discovery")   // MQTT config topic → payload hash
	bucketMeta        = []byte("meta")        // keyVersion, keyMigratedAt
)

// fileMode is the mode of the database and of backups: they hold invite codes.
const fileMode os.FileMode = 0o600

// Options configures Open. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for the file lock; 2s when zero.
	Timeout time.Duration
	// Logger receives migrations and permission fixes; discarded when nil.
	Logger *slog.Logger
	// Now is the clock recorded with migrations; time.Now when nil.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Store is the bbolt database of one nuki-invites instance. Its methods are
// safe for concurrent use. Close it when done; it holds the file lock until
// then.
type Store struct {
	db     *bbolt.DB
	path   string
	log    *slog.Logger
	now    func() time.Time
	writes atomic.Uint64
}

var _ bridge.Store = (*Store)(nil)

// Open opens or creates the database at path with mode 0600 and brings its
// schema up to date. The directory must exist. A missing file is a first
// start: Open creates it. An existing file is verified before bbolt reads it
// (see verifyFile); an empty or damaged one is refused with a *DamageError
// wrapping ErrDamaged, and left untouched: Open never renames, repairs or
// starts over a file it found. Other errors wrap ErrLocked when another
// process holds the file longer than opts.Timeout, and ErrNewerSchema when
// the file comes from a newer nuki-invites.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, migrations)
}

func open(path string, opts Options, steps []migration) (*Store, error) {
	opts.defaults()
	db, err := openDB(path, false, opts.Timeout)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, log: opts.Logger.With("component", "db"), now: opts.Now}
	s.tightenMode()
	if err := s.migrate(steps); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// errLockTimeout means lockFile gave up.
var errLockTimeout = errors.New("no lock")

// openDB opens a bbolt file, read-only or for writing, after verifyFile
// found it sound. A missing file, when writing, is first created whole (see
// create). It returns an error wrapping ErrLocked when another process holds
// the lock past timeout, and a *DamageError when the file is empty or
// damaged; it does not change a file it refuses.
func openDB(path string, readOnly bool, timeout time.Duration) (*bbolt.DB, error) {
	db, _, err := openChecked(path, readOnly, timeout)
	return db, err
}

// openChecked is openDB that also returns what verifyFile found.
func openChecked(path string, readOnly bool, timeout time.Duration) (_ *bbolt.DB, c fileCheck, _ error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	} else if err := create(path); err != nil {
		return nil, c, fmt.Errorf("create database %s: %w", path, err)
	}
	f, err := os.OpenFile(path, flag, fileMode)
	if err != nil {
		return nil, c, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := lockFile(f, readOnly, timeout); err != nil {
		f.Close()
		if errors.Is(err, errLockTimeout) {
			return nil, c, fmt.Errorf("database %s is in use by another nuki-invites process (no lock within %s): %w",
				path, timeout, ErrLocked)
		}
		return nil, c, fmt.Errorf("lock database %s: %w", path, err)
	}
	if c = verifyFile(f); len(c.problems) > 0 {
		f.Close()
		return nil, c, &DamageError{Path: path, Empty: c.empty, Problems: c.problems}
	}
	var db *bbolt.DB
	err = guard(path, func() (err error) {
		db, err = bbolt.Open(path, fileMode, &bbolt.Options{ReadOnly: readOnly, Timeout: timeout,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil }})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		f.Close()
		return nil, c, fmt.Errorf("database %s is in use by another nuki-invites process (no lock within %s): %w",
			path, timeout, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum):
		f.Close()
		return nil, c, &DamageError{Path: path, Problems: []string{err.Error()}}
	case err != nil:
		f.Close()
		return nil, c, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, c, nil
}

// create makes a new database file at path when there is none. It writes
// the empty database beside it and links it into place, so path is never a
// file cut short by a crash during creation, and an existing file is never
// replaced.
func create(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := bbolt.Open(name, fileMode, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.Link(name, path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(dir)
}

// tightenMode makes an existing file that others may read private again.
func (s *Store) tightenMode() {
	fi, err := os.Stat(s.path)
	if err != nil || fi.Mode().Perm()&^fileMode == 0 {
		return
	}
	if err := os.Chmod(s.path, fileMode); err != nil {
		s.log.Warn("database file is readable by others and its mode cannot be changed",
			"path", s.path, "mode", fi.Mode().Perm().String(), "err", err)
		return
	}
	s.log.Info("restricted database file mode", "path", s.path, "was", fi.Mode().Perm().String(), "now", fileMode.String())
}

// Close releases the file lock. Calls after the first do nothing.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// WriteTxCount returns how many write transactions this Store committed since
// Open, including a migration at open. It counts the Store's own commits, not
// bbolt's Stats().TxN, which counts read transactions. A Commit of an empty
// batch leaves it unchanged.
func (s *Store) WriteTxCount() uint64 { return s.writes.Load() }

// update runs fn in one fsync'd write transaction and counts it when it
// committed. A panic in bbolt rolls the transaction back and comes back as a
// *DamageError.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	if err := guard(s.path, func() error { return s.db.Update(fn) }); err != nil {
		return err
	}
	s.writes.Add(1)
	return nil
}

// view runs fn in a read transaction; a panic in bbolt comes back as a
// *DamageError.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}
