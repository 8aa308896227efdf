//go:build !nodemo

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// TestDemoTableShowsNoExpiryOnceAccepted: the demo's table says an accepted
// invitation no longer expires, as Home Assistant and the page do.
func TestDemoTableShowsNoExpiryOnceAccepted(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sent := now.Add(-time.Hour)
	pending := bridge.Invitation{ID: "1-1", Name: "Ada", LockName: "Front door", Send: 1, SentAt: sent,
		ConfirmedAt: sent, ExpiresAt: sent.Add(48 * time.Hour), Status: bridge.StatusPending}
	accepted := pending
	accepted.ID, accepted.Name = "1-2", "Ben"
	accepted.AcceptedAt, accepted.AcceptedSignal, accepted.Status = now, bridge.SignalLockCount, bridge.StatusAccepted
	var out strings.Builder
	printTable(&out, []bridge.Invitation{pending, accepted}, now)
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[1], "in 47h") {
		t.Errorf("a pending invitation's row lacks its expiry: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 6 || f[5] != "-" {
		t.Errorf("an accepted invitation's row shows an expiry: %q", lines[2])
	}
}
