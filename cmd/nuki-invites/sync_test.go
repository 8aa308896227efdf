package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// stack is the real core over real HTTP: the simulator, the Nuki Web client,
// a bbolt file and the Service.
type stack struct {
	sim   *nukisim.Sim
	store *bolt.Store
	svc   *bridge.Service
	url   string
}

func newStack(tb testing.TB, dbPath string, opts bridge.Options, sim *nukisim.Sim) *stack {
	tb.Helper()
	if sim == nil {
		sim = nukisim.New(nukisim.Options{Token: "test-token"})
	}
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	store, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	client := nukiweb.New(srv.URL, "test-token", nukiweb.Options{MaxRetries: 1,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	svc := bridge.NewService(store, client, nil, opts)
	if err := svc.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &stack{sim: sim, store: store, svc: svc, url: srv.URL}
}

func TestSyncAgainstTheSimulator(t *testing.T) {
	st := newStack(t, filepath.Join(t.TempDir(), "db"), bridge.Options{}, nil)
	if _, err := st.sim.Seed(nukisim.SeedOptions{Locks: 3, Users: 10, Auths: 10, Accepted: 4}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	counts := st.svc.SyncState().Counts
	if counts[bridge.StatusAccepted] != 4 || counts[bridge.StatusPending] != 6 {
		t.Errorf("counts %v, want 4 accepted and 6 pending", counts)
	}
	pending := st.svc.Invitations(bridge.Filter{Statuses: []bridge.Status{bridge.StatusPending}})[0]
	if _, err := st.sim.Use(pending.SmartlockID, pending.AccountUserID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	before := st.store.WriteTxCount()
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.svc.SyncState().Counts[bridge.StatusAccepted]; got != 5 {
		t.Errorf("accepted %d after the guest redeemed, want 5", got)
	}
	if st.store.WriteTxCount() != before+1 {
		t.Errorf("one acceptance took %d write transactions, want 1", st.store.WriteTxCount()-before)
	}
	before = st.store.WriteTxCount()
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st.store.WriteTxCount() != before {
		t.Errorf("an unchanged sync wrote to the database")
	}
}

func TestSyncFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault nukisim.Fault
		want  bridge.SyncStatus
		kind  error
	}{
		{"token refused", nukisim.Fault{Status: 401}, bridge.SyncAuthError, bridge.ErrNukiUnauthorized},
		{"forbidden", nukisim.Fault{Status: 403}, bridge.SyncAuthError, bridge.ErrNukiUnauthorized},
		{"rate limited", nukisim.Fault{Status: 429, RetryAfter: "120"}, bridge.SyncRateLimited, bridge.ErrNukiRateLimited},
		{"server error", nukisim.Fault{Status: 503}, bridge.SyncUnreachable, bridge.ErrNukiUnavailable},
		{"dropped connection", nukisim.Fault{Drop: true}, bridge.SyncUnreachable, bridge.ErrNukiUnavailable},
		{"bad request", nukisim.Fault{Path: "/smartlock/auth", Status: 400}, bridge.SyncUnreachable, bridge.ErrNukiRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStack(t, filepath.Join(t.TempDir(), "db"), bridge.Options{}, nil)
			if _, err := st.sim.Seed(nukisim.SeedOptions{Locks: 2, Users: 3, Auths: 3}); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := st.svc.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.sim.Seed(nukisim.SeedOptions{Locks: 1, Users: 2, Auths: 2}); err != nil {
				t.Fatal(err)
			}
			before := st.store.WriteTxCount()
			st.sim.InjectFault(tt.fault)
			err := st.svc.Sync(ctx)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Sync() = %v, want %v", err, tt.kind)
			}
			state := st.svc.SyncState()
			if state.Status != tt.want || state.LastError == "" {
				t.Errorf("sync state %s %q, want %s with a reason", state.Status, state.LastError, tt.want)
			}
			if st.store.WriteTxCount() != before || len(st.svc.Invitations(bridge.Filter{})) != 3 {
				t.Errorf("a failed sync changed the store")
			}
			st.sim.ClearFaults()
			if err := st.svc.Sync(ctx); err != nil {
				t.Fatalf("sync after the fault cleared: %v", err)
			}
			if got := len(st.svc.Invitations(bridge.Filter{})); got != 5 || st.svc.SyncState().Status != bridge.SyncOK {
				t.Errorf("after recovery: %d invitations, status %s", got, st.svc.SyncState().Status)
			}
		})
	}
}

// BenchmarkSync syncs 200 locks, 5,000 users and 10,000 app authorizations
// (3,000 of them used, each with an entry in the activity log) from the
// simulator over loopback into a fresh bbolt file, then again with nothing
// changed, once with a Nuki Web that pages users and once with one that
// ignores offset and limit. It reports HTTP calls per sync (the activity-log
// read included), write transactions of the unchanged sync and the database
// size.
func BenchmarkSync(b *testing.B) {
	for _, paging := range []struct {
		name   string
		ignore bool
	}{{"paged", false}, {"not-paged", true}} {
		sim := nukisim.New(nukisim.Options{Token: "test-token", IgnoreUserPaging: paging.ignore})
		if _, err := sim.Seed(nukisim.SeedOptions{Locks: 200, Users: 5000, Auths: 10000, Accepted: 3000}); err != nil {
			b.Fatal(err)
		}
		b.Run(paging.name, func(b *testing.B) { benchmarkSync(b, sim) })
	}
}

func benchmarkSync(b *testing.B, sim *nukisim.Sim) {
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		var calls int
		for i := range b.N {
			b.StopTimer()
			path := filepath.Join(b.TempDir(), "db")
			st := newStack(b, path, bridge.Options{}, sim)
			sim.ResetCalls()
			b.StartTimer()
			var err error
			added := peakLiveHeap(func() { err = st.svc.Sync(ctx) })
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			calls = sim.Calls()
			if i == 0 {
				b.ReportMetric(float64(added)/(1<<20), "peak-live-MiB")
				if n := len(st.svc.Invitations(bridge.Filter{})); n != 10000 {
					b.Fatalf("%d invitations after the first sync", n)
				}
				st.store.Close()
				if info, err := os.Stat(path); err == nil {
					b.ReportMetric(float64(info.Size())/(1<<20), "db-MiB")
				}
			}
		}
		b.ReportMetric(float64(calls), "http-calls/sync")
	})
	b.Run("unchanged", func(b *testing.B) {
		st := newStack(b, filepath.Join(b.TempDir(), "db"), bridge.Options{}, sim)
		if err := st.svc.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		tx := st.store.WriteTxCount()
		sim.ResetCalls()
		b.ResetTimer()
		for range b.N {
			if err := st.svc.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(sim.Calls())/float64(b.N), "http-calls/sync")
		b.ReportMetric(float64(st.store.WriteTxCount()-tx)/float64(b.N), "write-tx/sync")
	})
}

// peakLiveHeap runs f and returns how far the live heap, as the garbage
// collector last measured it, rose above where it was before f; it is
// sampled every millisecond, so a short peak between two collections is
// missed: a measure to compare changes by, not an exact one.
func peakLiveHeap(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	peak := base
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				metrics.Read(sample)
				peak = max(peak, sample[0].Value.Uint64())
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak - base
}
