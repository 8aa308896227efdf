package schedule

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/robfig/cron/v3"
)

// Job is the work done on every tick. It gets the scheduler's context, which
// ends when Run's context does.
type Job func(ctx context.Context) error

// Scheduler runs one Job on a cron schedule.
type Scheduler struct {
	spec string
	job  Job
	log  *slog.Logger
}

// New checks spec (five fields, "*/15 * * * *", or a descriptor such as
// "@every 30s") and returns a Scheduler for job. The error names the spec.
func New(spec string, job Job, logger *slog.Logger) (*Scheduler, error) {
	if _, err := cron.ParseStandard(spec); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{spec: spec, job: job, log: logger.With("component", "scheduler")}, nil
}

// Run runs the job on schedule until ctx ends, then waits for a running job
// to return and returns nil. A job's error is logged here, once.
func (s *Scheduler) Run(ctx context.Context) error {
	logger := cronLogger{s.log}
	c := cron.New(cron.WithLogger(logger), cron.WithChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)))
	if _, err := c.AddFunc(s.spec, func() {
		if err := s.job(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled run failed", "err", err)
		}
	}); err != nil {
		return fmt.Errorf("schedule %q: %w", s.spec, err)
	}
	c.Start()
	s.log.Info("scheduler started", "schedule", s.spec)
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}

// cronLogger routes cron's own messages through slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
