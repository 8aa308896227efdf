package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// damageChildEnv names a file listing databases, one a line, that a
// re-executed test binary opens, loads and writes one after the other,
// reporting each outcome on stdout. A crash there ends only the child.
const damageChildEnv = "NUKI_INVITES_BOLT_DAMAGE_CHILD"

// Outcomes the child reports.
const (
	outcomeOK      = "ok"      // opened, loaded and committed
	outcomeDamaged = "damaged" // refused with ErrDamaged, by Open or Load
	outcomeNewer   = "newer"   // the flip raised the schema version
)

// openEach opens every database listed in the file list and prints
// "start PATH" before and "result PATH OUTCOME [error]" after each.
func openEach(list string) error {
	raw, err := os.ReadFile(list)
	if err != nil {
		return err
	}
	for path := range strings.Lines(string(raw)) {
		path = strings.TrimSpace(path)
		fmt.Printf("start %s\n", path)
		outcome, err := openLoadCommit(path)
		if err != nil {
			fmt.Printf("result %s %s %s\n", path, outcome, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("result %s %s\n", path, outcome)
		}
	}
	return nil
}

func openLoadCommit(path string) (string, error) {
	classify := func(err error) (string, error) {
		switch {
		case errors.Is(err, ErrDamaged):
			return outcomeDamaged, nil
		case errors.Is(err, ErrNewerSchema):
			return outcomeNewer, nil
		}
		return "error", err
	}
	s, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		return classify(err)
	}
	defer s.Close()
	if _, err := s.Load(context.Background()); err != nil {
		return classify(err)
	}
	if err := s.Commit(context.Background(), dataset(2, 3, 3, 5)); err != nil {
		return classify(err)
	}
	if _, err := s.Load(context.Background()); err != nil {
		return classify(err)
	}
	return outcomeOK, nil
}

// populated writes a database with every record kind, deletions (so the
// freelist is not empty) and a record longer than a page, and returns its
// bytes and the size of its pages in use.
func populated(t testing.TB, invitations int) ([]byte, int) {
	t.Helper()
	s, path := openTest(t)
	b := dataset(4, 30, 30, invitations)
	long := b.Invitations[0]
	for i := range 200 {
		long.History = append(long.History, bridge.HistoryEntry{At: t0, Event: bridge.EventSent, Detail: fmt.Sprint("entry ", i)})
	}
	b.Invitations[0] = long
	mustCommit(t, s, b)
	var del bridge.Batch
	for _, inv := range b.Invitations[:invitations/3] {
		del.DeleteCodes = append(del.DeleteCodes, inv.ID)
	}
	del.DeleteAuths = []string{b.Auths[0].ID, b.Auths[1].ID}
	mustCommit(t, s, del)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := verifyFile(f)
	if len(c.problems) > 0 {
		t.Fatalf("a sound file fails verification: %v", c.problems)
	}
	return raw, int(c.pages * c.pageSize)
}

// TestOpenDamaged damages a real database in many ways and opens each copy
// in a child process: none may crash it. Cut files and garbled headers must
// be refused with ErrDamaged and left as they were; after a random byte
// flip the file is either refused or opens, loads and takes a commit.
func TestOpenDamaged(t *testing.T) {
	good, used := populated(t, 300)
	dir := t.TempDir()
	type damaged struct {
		name       string
		data       []byte
		mustRefuse bool
	}
	cases := []damaged{
		{"empty", nil, true},
		{"cut-4k", good[:4<<10], true},
		{"cut-8k", good[:8<<10], true},
		{"cut-16k", good[:16<<10], true},
		{"cut-half", good[:used/2], true},
		{"cut-last-page", good[:used-1], true},
		{"garbage-header", append(bytes.Repeat([]byte{0x5a}, 8<<10), good[8<<10:]...), true},
	}
	rng := rand.New(rand.NewPCG(8, 2026))
	runs := 400
	if testing.Short() {
		runs = 100
	}
	for i := range runs {
		data := bytes.Clone(good)
		for range 1 + rng.IntN(8) {
			data[rng.IntN(used)] ^= byte(1 + rng.IntN(255))
		}
		cases = append(cases, damaged{name: fmt.Sprintf("flip-%03d", i), data: data})
	}
	var list strings.Builder
	byPath := map[string]damaged{}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".db")
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		byPath[path] = c
		list.WriteString(path + "\n")
	}

	results := runOpenEach(t, dir, list.String())
	counts := map[string]int{}
	for path, c := range byPath {
		got, ok := results[path]
		if !ok {
			continue // runOpenEach reported the crash
		}
		outcome, _, _ := strings.Cut(got, " ")
		counts[outcome]++
		switch {
		case outcome != outcomeOK && outcome != outcomeDamaged && outcome != outcomeNewer:
			t.Errorf("%s: %s", c.name, got)
		case c.mustRefuse && outcome != outcomeDamaged:
			t.Errorf("%s: got %s, want ErrDamaged", c.name, got)
		}
		if outcome != outcomeOK {
			if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, c.data) {
				t.Errorf("%s: the refused file was changed (%v)", c.name, err)
			}
		}
	}
	t.Logf("outcomes over %d damaged files: %v", len(cases), counts)
}

// runOpenEach runs the child over the listed files, and again over the rest
// after each crash, and returns each file's reported outcome.
func runOpenEach(t *testing.T, dir, list string) map[string]string {
	t.Helper()
	results := map[string]string{}
	remaining := strings.Fields(list)
	for len(remaining) > 0 {
		listFile := filepath.Join(dir, "list")
		if err := os.WriteFile(listFile, []byte(strings.Join(remaining, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), damageChildEnv+"="+listFile)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		started := ""
		lines := bufio.NewScanner(bytes.NewReader(out))
		for lines.Scan() {
			kind, rest, _ := strings.Cut(lines.Text(), " ")
			path, outcome, _ := strings.Cut(rest, " ")
			switch kind {
			case "start":
				started = path
			case "result":
				results[path] = outcome
				started = ""
			}
		}
		if err == nil {
			break
		}
		if started == "" {
			t.Fatalf("child failed outside a file: %v\n%s", err, lastLines(stderr.String(), 30))
		}
		t.Errorf("opening %s crashed the process: %v\n%s", filepath.Base(started), err, lastLines(stderr.String(), 30))
		for i, p := range remaining {
			if p == started {
				remaining = remaining[i+1:]
				break
			}
		}
	}
	return results
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestOpenRefusesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nuki-invites.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	var d *DamageError
	if !errors.As(err, &d) || !d.Empty || !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of an empty file: %v, want an empty *DamageError", err)
	}
	for _, want := range []string{path, "empty", "restore a backup", "remove the file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v", err)
	}
}

func TestOpenCreatesMissingFile(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "nuki-invites.db"))
	if st := mustLoad(t, s); len(st.Invitations) != 0 {
		t.Errorf("a new database holds %d invitations", len(st.Invitations))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files after a first start, want the database alone", len(entries))
	}
}

func TestDamageErrorSaysTheWayBack(t *testing.T) {
	good, used := populated(t, 50)
	path := filepath.Join(t.TempDir(), "nuki-invites.db")
	if err := os.WriteFile(path, good[:used/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a cut file: %v, want ErrDamaged", err)
	}
	for _, want := range []string{path + " is damaged", "cut short", "left it as it is", "restore a backup",
		"mv " + path + " " + path + ".damaged", "nuki-invites check"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestLoadReportsUndecodableRecord(t *testing.T) {
	s, _ := openTest(t)
	inv := fullInvitation(1, 2)
	mustCommit(t, s, bridge.Batch{Invitations: []bridge.Invitation{inv}})
	ops := ops{{bucket: bucketInvitations, key: []byte(inv.ID), value: []byte("{not json")}}
	if err := s.update(ops.apply); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(context.Background())
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), string(inv.ID)) {
		t.Fatalf("Load of a garbled record: %v, want ErrDamaged naming %s", err, inv.ID)
	}
}

func TestCheck(t *testing.T) {
	good, used := populated(t, 40)
	dir := t.TempDir()
	goodPath, cutPath := filepath.Join(dir, "good.db"), filepath.Join(dir, "cut.db")
	if err := os.WriteFile(goodPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cutPath, good[:used-4096], 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := Check(context.Background(), goodPath, time.Second)
	if err != nil {
		t.Fatalf("Check of a sound file: %v", err)
	}
	if sum.Invitations != 40 || sum.Locks != 4 || sum.Schema != uint64(len(migrations)) || sum.Pages == 0 {
		t.Errorf("Check counted %+v", sum)
	}
	if now, _ := os.ReadFile(goodPath); !bytes.Equal(now, good) {
		t.Error("Check changed the file")
	}
	_, err = Check(context.Background(), cutPath, time.Second)
	var d *DamageError
	if !errors.As(err, &d) || len(d.Problems) == 0 {
		t.Fatalf("Check of a cut file: %v, want a *DamageError", err)
	}
	if _, err := Check(context.Background(), filepath.Join(dir, "missing.db"), time.Second); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check of a missing file: %v, want os.ErrNotExist", err)
	}
}

// FuzzOpenDamaged opens and loads arbitrary bytes as a database: Open must
// refuse them or open them, never panic or fault. Inputs are a whole
// database, so minimizing one takes long: fuzz with -fuzzminimizetime 0.
func FuzzOpenDamaged(f *testing.F) {
	good, used := populated(f, 3)
	f.Add(good[:used])
	for _, off := range []int{20, 4096 + 40, 2*4096 + 20, 3*4096 + 30, used - 100} {
		if off < used {
			b := bytes.Clone(good[:used])
			b[off] ^= 0xff
			f.Add(b)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		f, err := os.CreateTemp(dir, "fuzz-*.db")
		if err != nil {
			t.Fatal(err)
		}
		path := f.Name()
		defer os.Remove(path)
		_, err = f.Write(data)
		if err = errors.Join(err, f.Close()); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
		if err != nil {
			return
		}
		defer s.Close()
		_, _ = s.Load(context.Background())
	})
}
