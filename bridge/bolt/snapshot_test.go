package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
)

// copyFile copies src to a new file dest, as a backup tool would.
func copyFile(t *testing.T, src, dest string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshotState loads what the snapshot at path holds, from a copy, so the
// snapshot itself is not opened for writing.
func snapshotState(t *testing.T, path string) bridge.State {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, path, cp)
	return restoredState(t, cp)
}

// names lists the files in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestSnapshotHoldsTheDatabaseAndIsRewrittenOnlyAfterAChange(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(2, 3, 4, 5))
	sn := s.Snapshotter(SnapshotOptions{})
	if got, want := sn.Path(), dbPath+".snapshot"; got != want {
		t.Fatalf("snapshot path %s, want %s", got, want)
	}

	wrote, err := sn.Update()
	if err != nil || !wrote {
		t.Fatalf("first Update = %v, %v; want a snapshot written", wrote, err)
	}
	requireMode(t, sn.Path(), 0o600)
	if got, want := snapshotState(t, sn.Path()), mustLoad(t, s); !reflect.DeepEqual(got, want) {
		t.Fatal("the snapshot does not hold what the database holds")
	}
	before, err := os.Stat(sn.Path())
	if err != nil {
		t.Fatal(err)
	}

	mustCommit(t, s, bridge.Batch{}) // an empty batch writes nothing
	wrote, err = sn.Update()
	if err != nil || wrote {
		t.Fatalf("Update without a change = %v, %v; want nothing written", wrote, err)
	}
	if after, err := os.Stat(sn.Path()); err != nil || !os.SameFile(before, after) {
		t.Fatalf("the snapshot file was replaced although the database did not change (%v)", err)
	}

	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 99, Name: "Cellar"}}})
	wrote, err = sn.Update()
	if err != nil || !wrote {
		t.Fatalf("Update after a commit = %v, %v; want a snapshot written", wrote, err)
	}
	if got := snapshotState(t, sn.Path()).Locks[99].Name; got != "Cellar" {
		t.Errorf("the snapshot has lock 99 named %q, want the committed Cellar", got)
	}
	if got := names(t, filepath.Dir(dbPath)); !slices.Equal(got, []string{"nuki-invites.db", "nuki-invites.db.snapshot"}) {
		t.Errorf("the folder holds %v, want the database and its snapshot only", got)
	}
}

func TestSnapshotRefusesToOverwriteTheDatabase(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(1, 1, 1, 1))
	want := mustLoad(t, s)
	_, err := s.Snapshotter(SnapshotOptions{Path: dbPath}).Update()
	if err == nil || !strings.Contains(err.Error(), "overwrite the database") {
		t.Fatalf("Update onto the database itself: %v, want a refusal", err)
	}
	if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
		t.Error("the database changed")
	}
}

// backupOf copies the files of dir that a backup excluding the live
// database file keeps into a new folder and returns the database path there.
func backupOf(t *testing.T, dbPath string) string {
	t.Helper()
	dest := t.TempDir()
	for _, name := range names(t, filepath.Dir(dbPath)) {
		if name != filepath.Base(dbPath) {
			copyFile(t, filepath.Join(filepath.Dir(dbPath), name), filepath.Join(dest, name))
		}
	}
	return filepath.Join(dest, filepath.Base(dbPath))
}

func TestRestoreSnapshotRebuildsAMissingDatabase(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(2, 3, 4, 6))
	want := mustLoad(t, s)
	if _, err := s.Snapshotter(SnapshotOptions{}).Update(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	restoredDB := backupOf(t, dbPath)
	sum, restored, err := RestoreSnapshot(t.Context(), restoredDB, time.Second)
	if err != nil || !restored {
		t.Fatalf("RestoreSnapshot = %v, %v; want the database restored", restored, err)
	}
	if sum.Invitations != len(want.Invitations) || sum.Locks != len(want.Locks) || sum.Codes != len(want.Codes) {
		t.Errorf("summary %+v, want %d invitations, %d locks, %d codes", sum, len(want.Invitations), len(want.Locks), len(want.Codes))
	}
	requireMode(t, restoredDB, 0o600)
	if got := restoredState(t, restoredDB); !reflect.DeepEqual(got, want) {
		t.Error("the restored database differs from the one the snapshot was taken of")
	}
	if got := names(t, filepath.Dir(restoredDB)); !slices.Equal(got, []string{"nuki-invites.db", "nuki-invites.db.snapshot"}) {
		t.Errorf("the folder holds %v after the restore, want the database and its snapshot only", got)
	}
}

func TestRestoreSnapshotLeavesAnExistingDatabase(t *testing.T) {
	s, dbPath := openTest(t)
	if _, err := s.Snapshotter(SnapshotOptions{}).Update(); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 1, Name: "Newer than the snapshot"}}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, restored, err := RestoreSnapshot(t.Context(), dbPath, time.Second)
	if err != nil || restored {
		t.Fatalf("RestoreSnapshot = %v, %v; want nothing done", restored, err)
	}
	if got := restoredState(t, dbPath).Locks[1].Name; got != "Newer than the snapshot" {
		t.Errorf("the database lost its last commit: lock 1 is %q", got)
	}
}

func TestRestoreSnapshotWithoutASnapshotDoesNothing(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "nuki-invites.db")
	_, restored, err := RestoreSnapshot(t.Context(), dbPath, time.Second)
	if err != nil || restored {
		t.Fatalf("RestoreSnapshot = %v, %v; want nothing done", restored, err)
	}
	if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a database file appeared: %v", err)
	}
}

func TestRestoreSnapshotRefusesADamagedSnapshot(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(2, 3, 4, 6))
	if _, err := s.Snapshotter(SnapshotOptions{}).Update(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	restoredDB := backupOf(t, dbPath)
	snap := SnapshotPath(restoredDB)
	fi, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(snap, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, restored, err := RestoreSnapshot(t.Context(), restoredDB, time.Second)
	if !errors.Is(err, ErrDamaged) || restored {
		t.Fatalf("RestoreSnapshot of a cut snapshot = %v, %v; want ErrDamaged", restored, err)
	}
	if !strings.Contains(err.Error(), snap) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q does not name the snapshot and the missing database", err)
	}
	if got := names(t, filepath.Dir(restoredDB)); !slices.Equal(got, []string{"nuki-invites.db.snapshot"}) {
		t.Errorf("the folder holds %v, want the snapshot alone, untouched", got)
	}
}

func TestSnapshotterRunKeepsTheSnapshotCurrent(t *testing.T) {
	s, dbPath := openTest(t)
	mustCommit(t, s, dataset(1, 2, 2, 2))
	dir := filepath.Dir(dbPath)
	leftover := filepath.Join(dir, tempPrefix(SnapshotPath(dbPath))+"4711")
	other := filepath.Join(dir, ".unrelated")
	for _, name := range []string{leftover, other} {
		if err := os.WriteFile(name, []byte("half a snapshot"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &bridgetest.Logs{}
	sn := s.Snapshotter(SnapshotOptions{Interval: 5 * time.Millisecond, Logger: logs.Logger()})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sn.Run(ctx) }()

	waitFor(t, "the first snapshot", func() bool {
		_, err := os.Stat(sn.Path())
		return err == nil
	})
	mustCommit(t, s, bridge.Batch{Locks: []bridge.Lock{{ID: 7, Name: "Committed while running"}}})
	waitFor(t, "the snapshot to hold the new lock", func() bool {
		return snapshotState(t, sn.Path()).Locks[7].Name == "Committed while running"
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after its context ended, want nil", err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover of an interrupted write is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Run removed a file that is not its own: %v", err)
	}
}

func TestSnapshotterRunLogsAFailureOnceAndTheRecovery(t *testing.T) {
	s, _ := openTest(t)
	missing := filepath.Join(t.TempDir(), "not-yet")
	logs := &bridgetest.Logs{}
	sn := s.Snapshotter(SnapshotOptions{Path: filepath.Join(missing, "db.snapshot"), Interval: time.Millisecond, Logger: logs.Logger()})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sn.Run(ctx) }()

	waitFor(t, "the failure to be logged", func() bool { return strings.Contains(logs.String(), "cannot write the database snapshot") })
	// Let it fail a few more times; each is the same failure.
	time.Sleep(20 * time.Millisecond)
	if err := os.Mkdir(missing, 0o700); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovery to be logged", func() bool { return strings.Contains(logs.String(), "database snapshot written again") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil: a failed snapshot must not stop the daemon", err)
	}
	if n := strings.Count(logs.String(), "cannot write the database snapshot"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// snapshotDataSet is the number of invitations the child commits once.
const snapshotDataSet = 2000

// snapshotGeneration sets lock 1, three invitations on it and their codes
// to generation g: a commit much smaller than a snapshot.
func snapshotGeneration(g int) bridge.Batch {
	b := bridge.Batch{
		Locks: []bridge.Lock{{ID: 1, Name: "generation " + strconv.Itoa(g)}},
		Codes: map[bridge.InviteID]bridge.Secret{},
	}
	for i := range 3 {
		inv := fullInvitation(1, int64(i+1))
		inv.Send = g
		b.Invitations = append(b.Invitations, inv)
		b.Codes[inv.ID] = bridge.Secret(strconv.Itoa(g))
	}
	return b
}

// snapshotChildEnv names the database a re-executed test binary commits to
// and snapshots until it is killed.
const snapshotChildEnv = "NUKI_INVITES_BOLT_SNAPSHOT_CHILD"

// TestSnapshotChild is not a test of its own: TestSnapshotSurvivesSIGKILL
// runs the test binary again with only this function and snapshotChildEnv
// set, and it then commits a large data set once and, for ever, a
// generation, writes the snapshot and reports the generation on stdout. The
// data set makes a snapshot take longer than a commit, so that kills often
// land in a snapshot write.
func TestSnapshotChild(t *testing.T) {
	path := os.Getenv(snapshotChildEnv)
	if path == "" {
		return
	}
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Commit(context.Background(), dataset(5, 50, 500, snapshotDataSet)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sn := s.Snapshotter(SnapshotOptions{})
	for g := 1; ; g++ {
		if err := s.Commit(context.Background(), snapshotGeneration(g)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := sn.Update(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(g)
	}
}

// TestSnapshotSurvivesSIGKILL kills a process that commits and snapshots
// batches, at a random moment, and checks that the snapshot is always a
// whole, sound database holding one generation: the one last reported or,
// when the kill came after its rename, the next.
func TestSnapshotSurvivesSIGKILL(t *testing.T) {
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	interrupted := 0
	for round := range rounds {
		dir := t.TempDir()
		path := filepath.Join(dir, "crash.db")
		reported := runSnapshotChildAndKill(t, path, 2+rand.IntN(6))

		snap := SnapshotPath(path)
		if _, err := Check(t.Context(), snap, time.Second); err != nil {
			t.Fatalf("round %d: the snapshot after the kill fails the check: %v", round, err)
		}
		st := snapshotState(t, snap)
		gens, generated := map[int]int{}, 0
		for id, inv := range st.Invitations {
			if inv.SmartlockID != 1 {
				continue // the data set
			}
			generated++
			gens[inv.Send]++
			if code := st.Codes[id].Reveal(); code != strconv.Itoa(inv.Send) {
				t.Errorf("round %d: invitation %s of generation %d has the code of generation %s", round, id, inv.Send, code)
			}
		}
		if len(gens) != 1 || generated != 3 || len(st.Invitations) != 3+snapshotDataSet {
			t.Fatalf("round %d: the snapshot holds %d invitations, %d of generations %v; want the data set and 3 of one generation",
				round, len(st.Invitations), generated, gens)
		}
		for g := range gens {
			if want := "generation " + strconv.Itoa(g); st.Locks[1].Name != want {
				t.Errorf("round %d: lock 1 says %q, its invitations say generation %d", round, st.Locks[1].Name, g)
			}
			if g != reported && g != reported+1 {
				t.Errorf("round %d: the snapshot holds generation %d, the child last reported %d", round, g, reported)
			}
		}

		if len(names(t, dir)) > 2 {
			interrupted++
		}
		s := openAt(t, path)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Snapshotter(SnapshotOptions{}).Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := names(t, dir); !slices.Equal(got, []string{"crash.db", "crash.db.snapshot"}) {
			t.Errorf("round %d: after a restart the folder holds %v, want the database and its snapshot only", round, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d kills interrupted a snapshot write", interrupted, rounds)
}

// runSnapshotChildAndKill starts TestSnapshotChild on path, waits until it
// reported at least minSnapshots snapshots, lets it run on for a random
// moment and kills it with SIGKILL. It returns the last generation the child
// reported.
func runSnapshotChildAndKill(t *testing.T, path string, minSnapshots int) int {
	t.Helper()
	return killChild(t, "^TestSnapshotChild$", snapshotChildEnv+"="+path, minSnapshots, 20*time.Millisecond)
}
