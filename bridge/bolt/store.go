package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
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
// schema up to date. The directory must exist. Errors wrap ErrLocked when
// another process holds the file longer than opts.Timeout, and ErrNewerSchema
// when the file comes from a newer nuki-invites.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, migrations)
}

func open(path string, opts Options, steps []migration) (*Store, error) {
	opts.defaults()
	db, err := openDB(path, &bbolt.Options{Timeout: opts.Timeout})
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

// openDB opens a bbolt file and turns a lock timeout into ErrLocked.
func openDB(path string, o *bbolt.Options) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, fileMode, o)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("database %s is in use by another nuki-invites process (no lock within %s): %w",
			path, o.Timeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
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
// committed.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	if err := s.db.Update(fn); err != nil {
		return err
	}
	s.writes.Add(1)
	return nil
}
