package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// openTest opens a store in a fresh directory and closes it at the end.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nuki-invites.db")
	return openAt(t, path), path
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Timeout: 100 * time.Millisecond, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustLoad(t testing.TB, s *Store) bridge.State {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func mustCommit(t testing.TB, s *Store, b bridge.Batch) {
	t.Helper()
	if err := s.Commit(context.Background(), b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// fullInvitation sets every field, so a round trip shows that none is lost.
func fullInvitation(lock, user int64) bridge.Invitation {
	return bridge.Invitation{
		ID: bridge.MakeInviteID(lock, user), SmartlockID: lock, AccountUserID: user,
		Kind: bridge.KindKeypad, Name: "Ada Lovelace", Email: "ada@example.org", Language: "en", TimeZone: "Europe/Berlin",
		LockName: "Front door", CleanupAt: t0.Add(6 * time.Hour),
		AuthID: "66c5b1e7a53a2b0f6e4e1d2c", Delivery: bridge.DeliveryCustom, Adopted: true, RemoteAllowed: true,
		Access: bridge.Access{From: t0, Until: t0.Add(720 * time.Hour), WeekDays: 62, FromTime: 480, UntilTime: 1080},
		Send:   3, SentAt: t0, ConfirmedAt: t0.Add(time.Second), ExpiresAt: t0.Add(48 * time.Hour),
		LastUsedAt: t0.Add(90 * time.Minute), DeleteRequestedAt: t0.Add(4 * time.Hour),
		Deleting: []string{"66c5b1e7a53a2b0f6e4e1d2a"}, CheckRequestedAt: t0.Add(5 * time.Hour), DeleteLate: true,
		AcceptedAt: t0.Add(time.Hour), AcceptedSignal: bridge.SignalLockCount,
		RevokedAt: t0.Add(2 * time.Hour), FailedAt: t0.Add(3 * time.Hour), LastError: "lock offline (ff)",
		ResendCount: 2, ResendUnconfirmed: true, LastResendAt: t0.Add(-time.Hour), AutoResends: 1,
		BaseAppID: 12345, RequestID: "req-1", Replacing: true, Attempts: 2, PrevAuthID: "66c5b1e7a53a2b0f6e4e1d2b",
		HasCode: true, Mailed: 3,
		Reminded: 2, AutoResentSend: 2, Status: bridge.StatusAccepted,
		History: []bridge.HistoryEntry{
			{At: t0, Event: bridge.EventCreated, Actor: "web:alice", Detail: "custom delivery"},
			{At: t0.Add(time.Minute), Event: bridge.EventSent, Actor: "scheduler"},
		},
	}
}

func fullAuth(id string, lock, user int64) bridge.Auth {
	return bridge.Auth{
		ID: id, SmartlockID: lock, AccountUserID: user, AuthID: 4242, AppID: 99, Type: bridge.AuthTypeApp + 1,
		Name: "Ada", Enabled: true, RemoteAllowed: true, LockCount: 7,
		Access:         bridge.Access{From: t0, Until: t0.Add(time.Hour), WeekDays: 1, FromTime: 1, UntilTime: 2},
		LastActiveDate: t0.Add(time.Second), CreationDate: t0.Add(-time.Hour), UpdateDate: t0.Add(time.Minute),
		OperationID: "66c5b1e7a53a2b0f6e4e1d2f",
		Error:       "none",
	}
}

// requireAllFieldsSet fails when a struct field (recursively) is zero, so a
// field added to a record kind is covered by the round trip too. Fields
// tagged json:"-" are never stored and are skipped.
func requireAllFieldsSet(t *testing.T, v any) {
	t.Helper()
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		if rv.Kind() == reflect.Struct && rv.Type() != reflect.TypeFor[time.Time]() {
			for i := range rv.NumField() {
				if rv.Type().Field(i).Tag.Get("json") == "-" {
					continue
				}
				walk(path+"."+rv.Type().Field(i).Name, rv.Field(i))
			}
			return
		}
		if rv.IsZero() {
			t.Errorf("fixture leaves %s zero; set it so the round trip covers it", path)
		}
	}
	walk(reflect.TypeOf(v).Name(), reflect.ValueOf(v))
}

// dataset is the size the benchmarks and the size report use: locks, account
// users, authorizations and invitations with a few history entries each.
func dataset(locks, users, auths, invitations int) bridge.Batch {
	b := bridge.Batch{Codes: map[bridge.InviteID]bridge.Secret{}}
	for i := range locks {
		b.Locks = append(b.Locks, bridge.Lock{ID: int64(17000000 + i), Name: fmt.Sprintf("Door %d", i), Type: 4, Keypad: true})
	}
	for i := range users {
		b.Users = append(b.Users, bridge.User{
			ID: int64(880000 + i), Email: fmt.Sprintf("guest%d@example.org", i),
			Name: fmt.Sprintf("Guest Number %d", i), Language: "de",
		})
	}
	for i := range auths {
		lock, user := b.Locks[i%locks].ID, b.Users[i%users].ID
		a := fullAuth(fmt.Sprintf("%024x", 0x5f3a000000+i), lock, user)
		a.Name = fmt.Sprintf("Guest Number %d", i%users)
		b.Auths = append(b.Auths, a)
	}
	for i := range invitations {
		lock, user := b.Locks[i%locks].ID, b.Users[(i/locks)%users].ID
		inv := fullInvitation(lock, user)
		inv.ID = bridge.MakeInviteID(lock, user+int64(i/(locks*users))*10_000_000)
		inv.History = append(inv.History,
			bridge.HistoryEntry{At: t0.Add(time.Hour), Event: bridge.EventReminder, Actor: "scheduler"},
			bridge.HistoryEntry{At: t0.Add(2 * time.Hour), Event: bridge.EventAccepted, Actor: "sync", Detail: "lock_count"},
		)
		b.Invitations = append(b.Invitations, inv)
		if i%4 == 0 {
			b.Codes[inv.ID] = bridge.Secret(fmt.Sprintf("%06d", 100000+i))
		}
	}
	for i := range min(100, invitations) {
		b.Requests = append(b.Requests, bridge.Request{ID: fmt.Sprintf("req-%d", i), At: t0, Invites: []bridge.InviteID{b.Invitations[i].ID}})
	}
	return b
}
