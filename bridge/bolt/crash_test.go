package bolt

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// crashChildEnv names the database a re-executed test binary commits to until
// it is killed.
const crashChildEnv = "NUKI_INVITES_BOLT_CRASH_CHILD"

func TestMain(m *testing.M) {
	if list := os.Getenv(damageChildEnv); list != "" {
		if err := openEach(list); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := commitForever(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

const crashInvitations = 300

// generationBatch sets every invitation, its code and the lock to generation g.
func generationBatch(g int) bridge.Batch {
	b := bridge.Batch{
		Locks: []bridge.Lock{{ID: 1, Name: "generation " + strconv.Itoa(g)}},
		Codes: map[bridge.InviteID]bridge.Secret{},
	}
	for i := range crashInvitations {
		inv := fullInvitation(1, int64(i+1))
		inv.Send = g
		inv.History = make([]bridge.HistoryEntry, g%7+1)
		b.Invitations = append(b.Invitations, inv)
		b.Codes[inv.ID] = bridge.Secret(strconv.Itoa(g))
	}
	return b
}

// commitForever continues from the stored generation and reports every
// committed one on stdout, until it is killed.
func commitForever(path string) error {
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	st, err := s.Load(context.Background())
	if err != nil {
		return err
	}
	g := 0
	for _, inv := range st.Invitations {
		g = inv.Send
	}
	for {
		g++
		if err := s.Commit(context.Background(), generationBatch(g)); err != nil {
			return err
		}
		fmt.Println(g)
	}
}

// TestCommitSurvivesSIGKILL kills a process that commits batches at a random
// moment, several times over, and checks that the file opens and holds one
// whole batch: never a mix of two.
func TestCommitSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		committed := runAndKill(t, path, 1+rand.IntN(15))

		s := openAt(t, path)
		st := mustLoad(t, s)
		if len(st.Invitations) != crashInvitations {
			t.Fatalf("round %d: %d invitations after the kill, want %d", round, len(st.Invitations), crashInvitations)
		}
		gens := map[int]int{}
		for id, inv := range st.Invitations {
			gens[inv.Send]++
			if len(inv.History) != inv.Send%7+1 {
				t.Errorf("round %d: invitation %s of generation %d has %d history entries, want %d",
					round, id, inv.Send, len(inv.History), inv.Send%7+1)
			}
			if code := st.Codes[id].Reveal(); code != strconv.Itoa(inv.Send) {
				t.Errorf("round %d: invitation %s of generation %d has the code of generation %s", round, id, inv.Send, code)
			}
		}
		if len(gens) != 1 {
			t.Fatalf("round %d: invitations from several batches after the kill: %v", round, gens)
		}
		for g := range gens {
			if g != committed && g != committed+1 {
				t.Errorf("round %d: stored generation %d, but the child last reported %d committed", round, g, committed)
			}
			if want := "generation " + strconv.Itoa(g); st.Locks[1].Name != want {
				t.Errorf("round %d: lock says %q, invitations say %d", round, st.Locks[1].Name, g)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts the child, waits until it reported at least minCommits
// commits in this run, lets it run on for a random moment and kills it with
// SIGKILL. It returns the last generation the child reported committed.
func runAndKill(t *testing.T, path string, minCommits int) int {
	t.Helper()
	return killChild(t, "^$", crashChildEnv+"="+path, minCommits, 3*time.Millisecond)
}

// killChild runs the test binary again with the tests matching run and env
// set, reads the numbers it prints one per line, and once it printed
// minReports lets it run on for up to upTo and kills it with SIGKILL. It
// returns the last number printed.
func killChild(t *testing.T, run, env string, minReports int, upTo time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	last, seen := 0, 0
	for seen < minReports && lines.Scan() {
		if n, err := strconv.Atoi(lines.Text()); err == nil {
			last, seen = n, seen+1
		}
	}
	if seen < minReports {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child stopped after %d reports (%v)", seen, lines.Err())
	}
	time.Sleep(rand.N(upTo))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		if n, err := strconv.Atoi(lines.Text()); err == nil {
			last = n
		}
	}
	cmd.Wait()
	return last
}
