package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
)

func TestRoundTripEveryRecordKind(t *testing.T) {
	inv := fullInvitation(17001, 880001)
	auth := fullAuth("66c5b1e7a53a2b0f6e4e1d2c", 17001, 880001)
	lock := bridge.Lock{ID: 17001, Name: "Front door", Type: 4, Keypad: true}
	user := bridge.User{ID: 880001, Email: "ada@example.org", Name: "Ada Lovelace", Language: "en"}
	req := bridge.Request{ID: "req-1", At: t0, Invites: []bridge.InviteID{inv.ID}}
	for _, rec := range []any{inv, auth, lock, user, req} {
		requireAllFieldsSet(t, rec)
	}
	const code = "483920"

	s, path := openTest(t)
	mustCommit(t, s, bridge.Batch{
		Locks: []bridge.Lock{lock}, Users: []bridge.User{user}, Auths: []bridge.Auth{auth},
		Invitations: []bridge.Invitation{inv}, Codes: map[bridge.InviteID]bridge.Secret{inv.ID: code},
		Requests: []bridge.Request{req},
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	got := mustLoad(t, openAt(t, path))
	want := bridge.State{
		Locks:       map[int64]bridge.Lock{lock.ID: lock},
		Users:       map[int64]bridge.User{user.ID: user},
		Auths:       map[string]bridge.Auth{auth.ID: auth},
		Invitations: map[bridge.InviteID]bridge.Invitation{inv.ID: inv},
		Codes:       map[bridge.InviteID]bridge.Secret{inv.ID: code},
		Requests:    map[string]bridge.Request{req.ID: req},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening, Load =\n%+v\nwant\n%+v", got, want)
	}
	if got.Codes[inv.ID].Reveal() != code {
		t.Errorf("stored code reveals as %q, want %q", got.Codes[inv.ID].Reveal(), code)
	}
}

func TestCodesAreNotRedactedOnDisk(t *testing.T) {
	s, _ := openTest(t)
	id := bridge.MakeInviteID(1, 2)
	mustCommit(t, s, bridge.Batch{Codes: map[bridge.InviteID]bridge.Secret{id: "123456"}})
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := string(tx.Bucket(bucketCodes).Get([]byte(id))); v != "123456" {
			t.Errorf("codes bucket holds %q, want the code itself", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmptyStoreLoadsEmptyMaps(t *testing.T) {
	s, _ := openTest(t)
	st := mustLoad(t, s)
	if st.Locks == nil || st.Users == nil || st.Auths == nil || st.Invitations == nil || st.Codes == nil || st.Requests == nil {
		t.Errorf("Load of a new database left a map nil: %+v", st)
	}
}

func TestDeletes(t *testing.T) {
	s, _ := openTest(t)
	full := dataset(2, 2, 2, 4)
	mustCommit(t, s, full)
	gone := full.Invitations[0].ID
	mustCommit(t, s, bridge.Batch{
		DeleteLocks: []int64{full.Locks[0].ID}, DeleteUsers: []int64{full.Users[1].ID},
		DeleteAuths: []string{full.Auths[0].ID}, DeleteCodes: []bridge.InviteID{gone},
		DeleteRequests: []string{full.Requests[0].ID, "never-existed"},
	})

	st := mustLoad(t, s)
	tests := []struct {
		name    string
		present bool
		want    bool
	}{
		{"deleted lock", has(st.Locks, full.Locks[0].ID), false},
		{"kept lock", has(st.Locks, full.Locks[1].ID), true},
		{"deleted user", has(st.Users, full.Users[1].ID), false},
		{"kept user", has(st.Users, full.Users[0].ID), true},
		{"deleted auth", has(st.Auths, full.Auths[0].ID), false},
		{"kept auth", has(st.Auths, full.Auths[1].ID), true},
		{"deleted code", has(st.Codes, gone), false},
		{"invitation of the deleted code", has(st.Invitations, gone), true},
		{"deleted request", has(st.Requests, full.Requests[0].ID), false},
		{"kept request", has(st.Requests, full.Requests[1].ID), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.present != tt.want {
				t.Errorf("present = %v, want %v", tt.present, tt.want)
			}
		})
	}
}

func TestWriteAndDeleteOfOneKeyDeletes(t *testing.T) {
	s, _ := openTest(t)
	id := bridge.MakeInviteID(1, 2)
	mustCommit(t, s, bridge.Batch{
		Codes: map[bridge.InviteID]bridge.Secret{id: "111111"}, DeleteCodes: []bridge.InviteID{id},
	})
	if st := mustLoad(t, s); has(st.Codes, id) {
		t.Errorf("code written and deleted in one batch is stored")
	}
}

func has[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// lastTxID is the id of the last committed transaction as recorded in the
// file, independent of the Store's own counter.
func lastTxID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEmptyBatchOpensNoWriteTransaction(t *testing.T) {
	s, _ := openTest(t)
	mustCommit(t, s, dataset(1, 1, 1, 1))
	count, txid := s.WriteTxCount(), lastTxID(t, s)

	for _, b := range []bridge.Batch{{}, {Codes: map[bridge.InviteID]bridge.Secret{}, Locks: []bridge.Lock{}}} {
		mustCommit(t, s, b)
	}
	if err := s.SetPublishedDiscovery(context.Background(), map[string]string{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.WriteTxCount(); got != count {
		t.Errorf("WriteTxCount went from %d to %d after empty changes", count, got)
	}
	if got := lastTxID(t, s); got != txid {
		t.Errorf("file's transaction id went from %d to %d after empty changes", txid, got)
	}

	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 5, Name: "Gate"}}})
	if got := s.WriteTxCount(); got != count+1 {
		t.Errorf("WriteTxCount after one commit = %d, want %d", got, count+1)
	}
}

func TestCommitIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name  string
		batch bridge.Batch
		want  error
	}{
		{"invitation without id", bridge.Batch{Invitations: []bridge.Invitation{{Name: "nobody"}}}, bridge.ErrInvalid},
		{"lock id 0", bridge.Batch{Locks: []bridge.Lock{{Name: "zero"}}}, bridge.ErrInvalid},
		{"user id 0", bridge.Batch{Users: []bridge.User{{Email: "x@example.org"}}}, bridge.ErrInvalid},
		{"auth without id", bridge.Batch{Auths: []bridge.Auth{{Name: "x"}}}, bridge.ErrInvalid},
		{"code without invitation id", bridge.Batch{Codes: map[bridge.InviteID]bridge.Secret{"": "1"}}, bridge.ErrInvalid},
		{"request without id", bridge.Batch{Requests: []bridge.Request{{At: t0}}}, bridge.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			b := dataset(2, 2, 2, 2)
			b.Locks = append(b.Locks, tt.batch.Locks...)
			b.Users = append(b.Users, tt.batch.Users...)
			b.Auths = append(b.Auths, tt.batch.Auths...)
			b.Invitations = append(b.Invitations, tt.batch.Invitations...)
			b.Requests = append(b.Requests, tt.batch.Requests...)
			for k, v := range tt.batch.Codes {
				b.Codes[k] = v
			}
			before := s.WriteTxCount()
			err := s.Commit(context.Background(), b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Commit error = %v, want %v", err, tt.want)
			}
			st := mustLoad(t, s)
			if n := len(st.Locks) + len(st.Users) + len(st.Auths) + len(st.Invitations) + len(st.Codes) + len(st.Requests); n != 0 {
				t.Errorf("failed commit left %d records behind", n)
			}
			if s.WriteTxCount() != before {
				t.Errorf("failed commit counted as a write transaction")
			}
		})
	}
}

func TestCancelledContextWritesNothing(t *testing.T) {
	s, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Commit(ctx, dataset(1, 1, 1, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v, want context.Canceled", err)
	}
	if st := mustLoad(t, s); len(st.Invitations) != 0 {
		t.Errorf("cancelled commit wrote %d invitations", len(st.Invitations))
	}
}

func TestSecondOpenFailsWithErrLocked(t *testing.T) {
	_, path := openTest(t)
	s, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a database in use succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("error %v does not match ErrLocked", err)
	}
	if want := "database " + path + " is in use by another nuki-invites process"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestOpenReportsAMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "nuki-invites.db")
	_, err := Open(path, Options{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open in a missing directory: %v, want a not-exist error naming %s", err, path)
	}
}

func TestFileMode(t *testing.T) {
	t.Run("new file", func(t *testing.T) {
		_, path := openTest(t)
		requireMode(t, path, 0o600)
	})
	t.Run("existing file readable by others", func(t *testing.T) {
		s, path := openTest(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		openAt(t, path)
		requireMode(t, path, 0o600)
	})
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

func TestCloseTwice(t *testing.T) {
	s, _ := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestKeysSortNumerically(t *testing.T) {
	s, _ := openTest(t)
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 300, Name: "c"}, {ID: 2, Name: "a"}, {ID: 17, Name: "b"}}})
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLocks).ForEach(func(_, v []byte) error {
			names = append(names, string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`"a"`, `"b"`, `"c"`} {
		if !strings.Contains(names[i], want) {
			t.Errorf("lock %d in key order is %s, want the one named %s", i, names[i], want)
		}
	}
}

func TestLoadNamesACorruptRecord(t *testing.T) {
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
		want   string
	}{
		{"invitation among many", bucketInvitations, []byte(bridge.MakeInviteID(17000003, 880007)), `invitations record "17000003-880007"`},
		{"lock", bucketLocks, keyOfInt(17000001), "locks record 17000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			mustCommit(t, s, dataset(10, 100, 10, 1000))
			err := s.db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(tt.bucket)
				if b.Get(tt.key) == nil {
					t.Fatalf("fixture has no %s record %q", tt.bucket, tt.key)
				}
				return b.Put(tt.key, []byte(`{"id": truncated`))
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load of a corrupt record: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
