package schedule_test

import (
	"context"
	"errors"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/schedule"
)

func TestNewRejectsBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "every 15 minutes", "*/15 * * *", "61 * * * *"} {
		if _, err := schedule.New(spec, nil, nil); err == nil || !strings.Contains(err.Error(), spec) {
			t.Errorf("New(%q) = %v, want an error naming the spec", spec, err)
		}
	}
}

func TestRunsJobsSurvivesPanicsAndStops(t *testing.T) {
	var runs atomic.Int32
	logs := &bridgetest.Logs{}
	job := func(ctx context.Context) error {
		switch runs.Add(1) {
		case 1:
			panic("boom")
		case 2:
			return errors.New("nuki down")
		}
		return nil
	}
	s, err := schedule.New("@every 1s", job, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if runs.Load() < 3 {
		t.Fatalf("job ran %d times; a panic must not stop the schedule", runs.Load())
	}
	for _, want := range []string{"panic", "boom", "nuki down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
