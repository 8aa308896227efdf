package bolt

import (
	"context"
	"os"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The size of a large account: 200 locks, 5,000 users, 10,000 app
// authorizations and 10,000 invitations with four history entries each.
const benchLocks, benchUsers, benchAuths, benchInvitations = 200, 5000, 10000, 10000

func BenchmarkLoad(b *testing.B) {
	s, path := openTest(b)
	mustCommit(b, s, dataset(benchLocks, benchUsers, benchAuths, benchInvitations))
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		st, err := s.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Invitations) != benchInvitations || len(st.Auths) != benchAuths {
			b.Fatalf("loaded %d invitations and %d auths", len(st.Invitations), len(st.Auths))
		}
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
}

// BenchmarkCommit10k commits a batch that rewrites all 10,000 invitations,
// as a sync after a mass change would.
func BenchmarkCommit10k(b *testing.B) {
	s, _ := openTest(b)
	data := dataset(benchLocks, benchUsers, benchAuths, benchInvitations)
	mustCommit(b, s, data)
	ctx := context.Background()
	send := 0
	for b.Loop() {
		send++
		for i := range data.Invitations {
			data.Invitations[i].Send = send
		}
		if err := s.Commit(ctx, bridge.Batch{Invitations: data.Invitations}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitOne commits one changed invitation, the common case.
func BenchmarkCommitOne(b *testing.B) {
	s, _ := openTest(b)
	data := dataset(benchLocks, benchUsers, benchAuths, benchInvitations)
	mustCommit(b, s, data)
	ctx := context.Background()
	inv := data.Invitations[42]
	for b.Loop() {
		inv.Send++
		if err := s.Commit(ctx, bridge.Batch{Invitations: []bridge.Invitation{inv}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens the large account's file, the verification of every
// page included: what a start-up pays before Load.
func BenchmarkOpen(b *testing.B) {
	s, path := openTest(b)
	mustCommit(b, s, dataset(benchLocks, benchUsers, benchAuths, benchInvitations))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
