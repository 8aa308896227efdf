package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
)

// setMeta writes a meta key of a closed database directly with bbolt.
func setMeta(t *testing.T, path string, key, value []byte) {
	t.Helper()
	db, err := bbolt.Open(path, fileMode, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(key, value) }); err != nil {
		t.Fatal(err)
	}
}

func version(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		v, err = schemaVersion(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewFileGetsTheInitialLayout(t *testing.T) {
	s, _ := openTest(t)
	if v := version(t, s); v != 1 {
		t.Errorf("schema version of a new file = %d, want 1", v)
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketLocks, bucketUsers, bucketAuths, bucketInvitations, bucketCodes, bucketRequests, bucketDiscovery, bucketMeta} {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		if at := string(tx.Bucket(bucketMeta).Get(keyMigratedAt)); at != "2026-03-14T09:26:53Z" {
			t.Errorf("migratedAt = %q, want the clock's time", at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReopeningAnUpToDateFileWritesNothing(t *testing.T) {
	s, path := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openAt(t, path).WriteTxCount(); n != 0 {
		t.Errorf("reopening an up-to-date file committed %d write transactions", n)
	}
}

// upperLockNames is a fake second schema version: it rewrites every lock.
var upperLockNames = migration{name: "upper-case lock names", up: func(tx *bbolt.Tx) error {
	b := tx.Bucket(bucketLocks)
	return b.ForEach(func(k, v []byte) error {
		return b.Put(k, bytes.ToUpper(v))
	})
}}

func TestOpenMigratesAnOlderFile(t *testing.T) {
	s, path := openTest(t)
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 7, Name: "gate"}}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	steps := append(migrations[:len(migrations):len(migrations)], upperLockNames)
	s, err := open(path, Options{Timeout: time.Second}, steps)
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, s); v != 2 {
		t.Errorf("schema version after migration = %d, want 2", v)
	}
	if n := s.WriteTxCount(); n != 1 {
		t.Errorf("migration took %d write transactions, want 1", n)
	}
	var raw string
	if err := s.db.View(func(tx *bbolt.Tx) error { raw = string(tx.Bucket(bucketLocks).Get(keyOfInt(7))); return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"GATE"`) {
		t.Errorf("lock record after migration = %s, want the migrated name", raw)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = open(path, Options{Timeout: time.Second}, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.WriteTxCount(); n != 0 {
		t.Errorf("second open migrated again (%d write transactions)", n)
	}
}

func TestFailedMigrationLeavesTheFileAsItWas(t *testing.T) {
	s, path := openTest(t)
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 7, Name: "gate"}}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	broken := migration{name: "broken", up: func(tx *bbolt.Tx) error {
		if err := upperLockNames.up(tx); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}}
	_, err := open(path, Options{Timeout: time.Second}, append(migrations[:len(migrations):len(migrations)], broken))
	if err == nil || !strings.Contains(err.Error(), "migration to schema 2 (broken): disk on fire") {
		t.Fatalf("Open with a failing migration: %v, want the migration named in the error", err)
	}

	s = openAt(t, path)
	if v := version(t, s); v != 1 {
		t.Errorf("schema version after a failed migration = %d, want 1", v)
	}
	if name := mustLoad(t, s).Locks[7].Name; name != "gate" {
		t.Errorf("lock name after a failed migration = %q, want it unchanged", name)
	}
}

func TestOpenRefusesAFileFromANewerRelease(t *testing.T) {
	s, path := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setMeta(t, path, keyVersion, binary.BigEndian.AppendUint64(nil, 7))

	_, err := Open(path, Options{Timeout: time.Second})
	if !errors.Is(err, ErrNewerSchema) {
		t.Errorf("error %v does not match ErrNewerSchema", err)
	}
	if want := "database schema 7 is newer than this nuki-invites (1)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not say %q", err, want)
	}
}

func TestOpenRefusesAGarbledSchemaVersion(t *testing.T) {
	s, path := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setMeta(t, path, keyVersion, []byte("v1"))
	if _, err := Open(path, Options{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Errorf("Open of a garbled schema version: %v, want an error about the schema version", err)
	}
}
