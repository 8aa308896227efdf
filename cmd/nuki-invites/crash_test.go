package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/mail"
	"github.com/nuki-invites/nuki-invites/bridge/mail/mailtest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

// The crash tests run this test binary again as a child process that does
// the daemon's work, and kill it with SIGKILL.
const childEnv = "NUKI_INVITES_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs the part of the daemon a crash test needs, from its environment.
func child(mode string) error {
	ctx := context.Background()
	store, err := bolt.Open(os.Getenv("DB_PATH"), bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer store.Close()
	var mailer bridge.Mailer
	if url := os.Getenv("SMTP_URL"); url != "" {
		tpl, err := mail.LoadTemplates("")
		if err != nil {
			return err
		}
		if mailer, err = mail.NewSender(bridge.Secret(url), "bridge@example.com", tpl, mail.Options{}); err != nil {
			return err
		}
	}
	nuki := nukiweb.New(os.Getenv("NUKI_API_URL"), "test-token", nukiweb.Options{})
	svc := bridge.NewService(store, nuki, mailer, bridge.Options{AdvancedAPI: true,
		Validity: time.Hour, ReminderBefore: time.Hour - time.Millisecond}) // due for a reminder at once
	if err := svc.Open(ctx); err != nil {
		return err
	}
	switch mode {
	case "sync-forever":
		for {
			if err := svc.Sync(ctx); err != nil {
				return err
			}
			fmt.Println("synced")
		}
	case "sync-once":
		return svc.Sync(ctx)
	case "invite-and-remind":
		if err := svc.Sync(ctx); err != nil {
			return err
		}
		invs, err := svc.Create(ctx, bridge.CreateRequest{Email: "guest@example.com", Name: "Guest",
			SmartlockIDs: []int64{svc.Locks()[0].ID}, Delivery: bridge.DeliveryCustom})
		if err != nil {
			return err
		}
		err = svc.HandleAuthCreation(ctx, bridge.AuthCreation{RequestID: invs[0].RequestID, Success: true,
			Results: []bridge.AuthCreationResult{{SmartlockID: invs[0].SmartlockID, Success: true, Code: "424242424"}}})
		if err != nil {
			return err
		}
		fallthrough
	case "remind":
		return svc.Tick(ctx)
	case "keypad-code-and-mail":
		if err := svc.Sync(ctx); err != nil {
			return err
		}
		now := time.Now()
		_, err := svc.Create(ctx, bridge.CreateRequest{Kind: bridge.KindKeypad, Name: "Guest", Email: "guest@example.com",
			SmartlockIDs: []int64{svc.Locks()[0].ID}, Access: bridge.Access{From: now.Add(time.Hour), Until: now.Add(48 * time.Hour)}})
		if err != nil {
			return err
		}
		fallthrough
	case "sync-and-tick": // what a daemon does first after a start
		if err := svc.Sync(ctx); err != nil {
			return err
		}
		return svc.Tick(ctx)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func startChild(t *testing.T, mode string, env ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+mode)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// TestKillDuringSync kills the daemon with SIGKILL while it syncs 10,000
// app authorizations, several times. After each kill the database opens,
// every invitation holds either the old or the new state of the change being
// synced, and the next sync completes.
func TestKillDuringSync(t *testing.T) {
	// Atomicity is the point here, not the lock's timing: a use raises
	// lockCount at once, so one sync accepts thousands of invitations.
	sim := nukisim.New(nukisim.Options{Instant: true})
	if _, err := sim.Seed(nukisim.SeedOptions{Locks: 200, Users: 5000, Auths: 10000}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "nuki-invites.db")
	env := []string{"DB_PATH=" + db, "NUKI_API_URL=" + srv.URL}
	auths := sim.Auths()

	// A first sync stores everything; a second, whole run with a change
	// tells how long the daemon takes from start to written here, so that
	// the kills below land before, during and after the write.
	cmd, stderr := startChild(t, "sync-once", env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("first sync: %v\n%s", err, stderr)
	}
	for _, a := range auths[:500] {
		if _, err := sim.Use(a.SmartlockID, a.AccountUserID, bridge.ActionUnlock); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	cmd, stderr = startChild(t, "sync-once", env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("second sync: %v\n%s", err, stderr)
	}
	took := time.Since(start)

	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	outcomes := map[bool]int{}
	for round := range rounds {
		batch := auths[(round+1)*500 : (round+2)*500]
		for _, a := range batch {
			if _, err := sim.Use(a.SmartlockID, a.AccountUserID, bridge.ActionUnlock); err != nil {
				t.Fatal(err)
			}
		}
		cmd, stderr := startChild(t, "sync-forever", env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(rand.N(took + took/4))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "child:") {
			t.Fatalf("child failed before the kill: %s", stderr)
		}

		store, err := bolt.Open(db, bolt.Options{})
		if err != nil {
			t.Fatalf("round %d: the database does not open after SIGKILL: %v", round, err)
		}
		st, err := store.Load(context.Background())
		store.Close()
		if err != nil {
			t.Fatalf("round %d: load after SIGKILL: %v", round, err)
		}
		if len(st.Invitations) != 10000 {
			t.Fatalf("round %d: %d invitations: a sync was half written", round, len(st.Invitations))
		}
		accepted := 0
		for _, a := range batch {
			if inv, ok := st.Invitations[bridge.MakeInviteID(a.SmartlockID, a.AccountUserID)]; ok && !inv.AcceptedAt.IsZero() {
				accepted++
			}
		}
		if accepted != 0 && accepted != len(batch) {
			t.Fatalf("round %d: %d of the %d acceptances being synced were written", round, accepted, len(batch))
		}
		outcomes[accepted > 0]++
	}
	t.Logf("killed %d times (one sync takes %s): the change was written before the kill %d times, not yet %d times",
		rounds, took.Round(time.Millisecond), outcomes[true], outcomes[false])

	cmd, stderr = startChild(t, "sync-once", env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("sync after the crashes: %v\n%s", err, stderr)
	}
	store, err := bolt.Open(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, inv := range st.Invitations {
		if !inv.AcceptedAt.IsZero() {
			accepted++
		}
	}
	if len(st.Invitations) != 10000 || accepted != (rounds+1)*500 {
		t.Errorf("after the last sync: %d invitations, %d accepted; want 10000 and %d", len(st.Invitations), accepted, (rounds+1)*500)
	}
}

// TestKillRightAfterReminderEmail kills the daemon the moment the SMTP server
// has accepted a reminder, before the daemon hears so. After a restart the
// reminder is not sent again.
func TestKillRightAfterReminderEmail(t *testing.T) {
	sim := nukisim.New(nukisim.Options{})
	sim.AddLock(bridge.Lock{Name: "Front door", Type: 4})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	smtp := mailtest.Start(t)
	proxy := newKillProxy(t, smtp.Addr)
	db := filepath.Join(t.TempDir(), "nuki-invites.db")
	env := []string{"DB_PATH=" + db, "NUKI_API_URL=" + srv.URL, "SMTP_URL=" + strings.Replace(smtp.URL(), smtp.Addr, proxy.addr, 1)}

	cmd, stderr := startChild(t, "invite-and-remind", env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proxy.killAfter(2, cmd.Process) // the invite email, then the reminder
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child was not killed (err %v):\n%s", err, stderr)
	}
	msgs := smtp.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1].Text, "424242424") {
		t.Fatalf("before the restart the server holds %d messages, want the invite and the reminder", len(msgs))
	}

	cmd, stderr = startChild(t, "remind", env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("restart: %v\n%s", err, stderr)
	}
	if got := len(smtp.Messages()); got != 2 {
		t.Errorf("after the restart the server holds %d messages; the reminder or invite went out twice", got)
	}
}

// TestKillRightAfterKeypadEmail kills the daemon the moment the SMTP server
// has accepted a keypad code's e-mail, before the daemon hears so. After a
// restart, which syncs and runs the scheduler, the code is not sent again.
func TestKillRightAfterKeypadEmail(t *testing.T) {
	sim := nukisim.New(nukisim.Options{Instant: true}) // the lock takes the code at once
	door := sim.AddLock(bridge.Lock{Name: "Front door", Type: 4})
	if err := sim.SetKeypad(door.ID, nukisim.Keypad2); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	smtp := mailtest.Start(t)
	proxy := newKillProxy(t, smtp.Addr)
	db := filepath.Join(t.TempDir(), "nuki-invites.db")
	env := []string{"DB_PATH=" + db, "NUKI_API_URL=" + srv.URL, "SMTP_URL=" + strings.Replace(smtp.URL(), smtp.Addr, proxy.addr, 1)}

	cmd, stderr := startChild(t, "keypad-code-and-mail", env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proxy.killAfter(1, cmd.Process) // the keypad code's e-mail, due at once: the window opens within a day
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child was not killed (err %v):\n%s", err, stderr)
	}
	var code string
	for _, a := range sim.Auths() {
		if a.Type == bridge.AuthTypeKeypadCode {
			code = a.Code.Reveal()
		}
	}
	msgs := smtp.Messages()
	if code == "" || len(msgs) != 1 || msgs[0].To[0] != "guest@example.com" || !strings.Contains(msgs[0].Text, code) {
		t.Fatalf("before the restart the server holds %d messages, want the keypad code's e-mail to the guest", len(msgs))
	}

	cmd, stderr = startChild(t, "sync-and-tick", env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("restart: %v\n%s", err, stderr)
	}
	if got := len(smtp.Messages()); got != 1 {
		t.Errorf("after the restart the server holds %d messages; the keypad code went out twice", got)
	}
}

// killProxy relays SMTP between the daemon and the server and kills the
// daemon when the server accepts the n-th message, before the daemon reads
// the answer.
type killProxy struct {
	addr string
	mu   sync.Mutex
	n    int
	proc *os.Process
	seen int
}

func newKillProxy(t *testing.T, upstream string) *killProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &killProxy{addr: ln.Addr().String()}
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			go p.relay(down, up)
		}
	}()
	return p
}

func (p *killProxy) killAfter(n int, proc *os.Process) {
	p.mu.Lock()
	p.n, p.proc = n, proc
	p.mu.Unlock()
}

func (p *killProxy) relay(down, up net.Conn) {
	defer down.Close()
	defer up.Close()
	var inData sync.Mutex
	dataSent := false
	go func() {
		r := bufio.NewReader(down)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == ".\r\n" {
				inData.Lock()
				dataSent = true
				inData.Unlock()
			}
			if _, err := io.WriteString(up, line); err != nil {
				return
			}
		}
	}()
	r := bufio.NewReader(up)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		inData.Lock()
		ended := dataSent && strings.HasPrefix(line, "250")
		if ended {
			dataSent = false
		}
		inData.Unlock()
		if ended {
			p.mu.Lock()
			p.seen++
			if p.seen == p.n && p.proc != nil {
				_ = p.proc.Signal(syscall.SIGKILL)
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
		}
		if _, err := io.WriteString(down, line); err != nil {
			return
		}
	}
}
