package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/bolt"
)

// TestDaemonStopsWithinItsDeadline runs parts that ignore the end of their
// context: Run must still return, name the part that did not stop and keep
// the error of a part that failed.
func TestDaemonStopsWithinItsDeadline(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		failing  bool // a part fails instead of the context being cancelled
		wantErrs []string
		wantIs   error
	}{
		{name: "cancelled", wantErrs: []string{"stuck", "did not stop"}},
		{name: "a part failed", failing: true, wantErrs: []string{"failing: boom", "stuck", "did not stop"}, wantIs: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			release := make(chan struct{})
			t.Cleanup(func() { close(release); store.Close() })
			d := &daemon{log: slog.New(slog.DiscardHandler), store: store, stopTimeout: 50 * time.Millisecond}
			d.parts = append(d.parts, part{"stuck", func(context.Context) error { <-release; return nil }})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.failing {
				d.parts = append(d.parts, part{"failing", func(context.Context) error { return boom }})
			} else {
				d.parts = append(d.parts, part{"well-behaved", func(ctx context.Context) error { <-ctx.Done(); return nil }})
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return although a part ignored its context")
			}
			if err == nil {
				t.Fatal("Run returned nil although a part did not stop")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "well-behaved") {
				t.Errorf("error %q names a part that stopped", err)
			}
		})
	}
}

// TestDemoLifeEndsWithTheDaemon: when the daemon fails, what runs beside it
// (the demo's guests) stops too and the failure comes back.
func TestDemoLifeEndsWithTheDaemon(t *testing.T) {
	boom := errors.New("boom")
	done := make(chan error, 1)
	go func() {
		done <- alongside(t.Context(), func(context.Context) error { return boom }, func(ctx context.Context) { <-ctx.Done() })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("alongside returned %v, want the daemon's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo kept running after its daemon failed")
	}
}
