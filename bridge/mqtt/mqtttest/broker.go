package mqtttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/mqtt/embedded"
)

// SharedAddr is where CI runs Mosquitto for the tests.
const SharedAddr = "127.0.0.1:1883"

// InCI reports whether the tests run in CI, where a missing broker is an
// error rather than a reason to fall back or skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Broker returns the URL of a broker for t. In CI it is the Mosquitto at
// 127.0.0.1:1883 and t fails at once when that does not answer. Elsewhere it
// is the same broker when reachable, else an embedded broker that lives until
// t ends.
func Broker(t testing.TB) string {
	t.Helper()
	if reachable(SharedAddr) {
		return "tcp://" + SharedAddr
	}
	if InCI() {
		t.Fatalf("CI=true but no MQTT broker answers at %s: start Mosquitto there (e.g. the mosquitto service container)", SharedAddr)
	}
	b, err := embedded.Start("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("no broker at %s and the embedded one failed: %v", SharedAddr, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.URL()
}

// Unique returns prefix followed by a random suffix, for topic bases and
// client ids that no other test uses.
func Unique(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// Mosquitto is a private Mosquitto process on a port of its own, without
// persistence: a restart loses every retained message, like a fresh broker.
type Mosquitto struct {
	t    testing.TB
	port int
	conf string

	mu     sync.Mutex
	cmd    *exec.Cmd    // nil while stopped
	exited <-chan error // receives cmd.Wait's result
}

// StartMosquitto runs mosquitto on a free port until t ends. Without the
// mosquitto binary it skips t, except in CI where it fails.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	if _, err := exec.LookPath("mosquitto"); err != nil {
		if InCI() {
			t.Fatalf("CI=true but the mosquitto binary is not on PATH: install mosquitto")
		}
		t.Skip("mosquitto is not installed: install it to run the broker fault tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n", port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatalf("write mosquitto config: %v", err)
	}
	m := &Mosquitto{t: t, port: port, conf: conf}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL returns the broker's URL; it stays the same across Stop and Start.
func (m *Mosquitto) URL() string { return "tcp://" + m.addr() }

func (m *Mosquitto) addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// Start runs the broker (again) on its port and returns once it accepts
// connections. It fails the test when that takes more than 10 s.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command("mosquitto", "-c", m.conf)
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !reachable(m.addr()) {
		select {
		case err := <-exited:
			m.t.Fatalf("mosquitto exited at start-up: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			m.t.Fatalf("mosquitto did not accept connections on %s within 10s", m.addr())
		}
	}
	m.cmd, m.exited = cmd, exited
}

// Stop ends the broker with SIGTERM (SIGKILL after 5 s) and waits until it
// is gone. Connected clients lose their connection.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd, m.exited = nil, nil
}
