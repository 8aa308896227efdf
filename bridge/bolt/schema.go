package bolt

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Keys of the meta bucket.
var (
	keyVersion    = []byte("schema")     // 8-byte big-endian schema version
	keyMigratedAt = []byte("migratedAt") // RFC 3339 time of the last migration
)

// migration brings the schema from one version to the next. Migrations never
// change once released; a new layout is a new migration at the end.
type migration struct {
	name string
	up   func(tx *bbolt.Tx) error
}

// migrations[i] takes the schema from version i to version i+1, so the
// current version is len(migrations). Version 0 is an empty file.
var migrations = []migration{
	{name: "initial layout", up: createBuckets(
		bucketLocks, bucketUsers, bucketAuths, bucketInvitations,
		bucketCodes, bucketRequests, bucketDiscovery, bucketMeta,
	)},
}

func createBuckets(names ...[]byte) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	}
}

// schemaVersion reads the version; a file without a meta bucket is version 0.
func schemaVersion(tx *bbolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get(keyVersion)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("schema version is %d bytes long, expected 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// migrate applies the missing steps in one write transaction, so a crash
// leaves the file at its old version. An up-to-date file is not written.
func (s *Store) migrate(steps []migration) error {
	latest := uint64(len(steps))
	var have uint64
	err := s.view(func(tx *bbolt.Tx) (err error) {
		have, err = schemaVersion(tx)
		return err
	})
	switch {
	case err != nil:
		return asDamage(s.path, err)
	case have > latest:
		return fmt.Errorf("database %s: database schema %d is newer than this nuki-invites (%d): %w",
			s.path, have, latest, ErrNewerSchema)
	case have == latest:
		return nil
	}
	err = s.update(func(tx *bbolt.Tx) error {
		for v := have; v < latest; v++ {
			if err := steps[v].up(tx); err != nil {
				return fmt.Errorf("migration to schema %d (%s): %w", v+1, steps[v].name, err)
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, latest)); err != nil {
			return err
		}
		return meta.Put(keyMigratedAt, []byte(s.now().UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	for v := have; v < latest; v++ {
		s.log.Info("applied database migration", "path", s.path, "schema", v+1, "name", steps[v].name)
	}
	return nil
}
