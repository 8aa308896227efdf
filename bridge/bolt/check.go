package bolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
)

// Summary is what Check counted in a sound database.
type Summary struct {
	// Schema is the file's schema version.
	Schema uint64
	// Records of each kind.
	Locks, Users, Auths, Invitations, Codes, Requests int
	// PageSize is in bytes; Pages counts every page below the file's
	// high-water mark, FreePages those of them on the freelist.
	PageSize         int
	Pages, FreePages uint64
}

// Check verifies the database file at path without changing it: it opens
// the file read-only (a shared lock, so it fails with an error wrapping
// ErrLocked while a daemon has it open), runs Open's page verification,
// and decodes every record as Load does. An empty or damaged file returns
// a *DamageError listing the problems; a file that is not a nuki-invites
// database returns bridge.ErrInvalid; a file from a newer nuki-invites
// returns ErrNewerSchema. A missing file is an error wrapping
// os.ErrNotExist.
func Check(ctx context.Context, path string, timeout time.Duration) (Summary, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if _, err := os.Stat(path); err != nil {
		return Summary{}, fmt.Errorf("check: %w", err)
	}
	db, fc, err := openChecked(path, true, timeout)
	if err != nil {
		return Summary{}, err
	}
	s := &Store{db: db, path: path, log: slog.New(slog.DiscardHandler), now: time.Now}
	sum, err := s.check(ctx)
	sum.PageSize, sum.Pages, sum.FreePages = int(fc.pageSize), fc.pages, fc.freePages
	return sum, errors.Join(err, db.Close())
}

func (s *Store) check(ctx context.Context) (Summary, error) {
	var sum Summary
	var isOurs bool
	err := s.view(func(tx *bbolt.Tx) (err error) {
		isOurs = tx.Bucket(bucketMeta) != nil
		sum.Schema, err = schemaVersion(tx)
		return err
	})
	switch {
	case err != nil:
		return sum, asDamage(s.path, err)
	case !isOurs:
		return sum, fmt.Errorf("%w: %s is a bbolt file but not a nuki-invites database", bridge.ErrInvalid, s.path)
	case sum.Schema > uint64(len(migrations)):
		return sum, fmt.Errorf("database %s: database schema %d is newer than this nuki-invites (%d): %w",
			s.path, sum.Schema, len(migrations), ErrNewerSchema)
	}
	st, err := s.Load(ctx)
	if err != nil {
		return sum, err
	}
	sum.Locks, sum.Users, sum.Auths = len(st.Locks), len(st.Users), len(st.Auths)
	sum.Invitations, sum.Codes, sum.Requests = len(st.Invitations), len(st.Codes), len(st.Requests)
	return sum, nil
}
