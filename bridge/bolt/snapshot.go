package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// DefaultSnapshotInterval is how often a Snapshotter looks for changes when
// SnapshotOptions.Interval is zero. A look that finds none costs one read
// transaction.
const DefaultSnapshotInterval = 30 * time.Second

// SnapshotPath returns the snapshot file of the database at dbPath: the
// same name with ".snapshot" appended, in the same directory.
func SnapshotPath(dbPath string) string { return dbPath + ".snapshot" }

// SnapshotOptions configures a Snapshotter. The zero value is usable.
type SnapshotOptions struct {
	// Path is the snapshot file; SnapshotPath of the database when empty.
	// It must be in a directory that exists and must not be the database.
	Path string
	// Interval is how often Run looks for changes; DefaultSnapshotInterval
	// when zero.
	Interval time.Duration
	// Logger receives the failures of Run; discarded when nil.
	Logger *slog.Logger
}

// Snapshotter keeps a consistent copy of a Store's database in one file,
// for backups that copy files while the daemon runs (the Supervisor's hot
// backup of /data). A copy of the live file taken between two of bbolt's
// writes may be torn; the snapshot never is: it is replaced whole, and
// only by a copy made inside one read transaction.
//
// Its methods are safe for concurrent use. It writes nothing after the
// Store is closed; call Update for the last time before Close.
type Snapshotter struct {
	store    *Store
	path     string
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	written bool // a snapshot was written by this Snapshotter
	last    int  // the transaction id that snapshot holds
	failing bool // the last write in Run failed; a streak of failures is logged once
}

// Snapshotter returns a Snapshotter for the Store. It writes nothing until
// Update or Run is called.
func (s *Store) Snapshotter(opts SnapshotOptions) *Snapshotter {
	if opts.Path == "" {
		opts.Path = SnapshotPath(s.path)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultSnapshotInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Snapshotter{store: s, path: opts.Path, interval: opts.Interval,
		log: opts.Logger.With("component", "snapshot")}
}

// Path returns the snapshot file.
func (sn *Snapshotter) Path() string { return sn.path }

// Update writes the snapshot when the database committed a write
// transaction since the snapshot this Snapshotter last wrote, or when it
// has written none yet, and reports whether it wrote.
//
// The copy is made inside one read transaction (bbolt's Tx.WriteTo) into a
// temporary file beside the snapshot, which is synced and renamed over it:
// the snapshot is the old one or the new one, never a mix, whenever the
// process stops. A crash may leave the temporary file behind; Run removes
// it. The snapshot has mode 0600: it holds the invite codes in clear.
func (sn *Snapshotter) Update() (bool, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if same, err := sameFile(sn.store.path, sn.path); err != nil {
		return false, fmt.Errorf("snapshot %s: %w", sn.path, err)
	} else if same {
		return false, fmt.Errorf("snapshot %s: the snapshot would overwrite the database", sn.path)
	}
	var id int
	changed := false
	err := guard(sn.store.path, func() error {
		return sn.store.db.View(func(tx *bbolt.Tx) error {
			id = tx.ID()
			if sn.written && id == sn.last {
				return nil
			}
			changed = true
			return writeFileAtomic(sn.path, func(w io.Writer) error {
				_, err := tx.WriteTo(w)
				return err
			})
		})
	})
	if err != nil {
		return false, fmt.Errorf("snapshot of %s to %s: %w", sn.store.path, sn.path, err)
	}
	if changed {
		sn.written, sn.last = true, id
	}
	return changed, nil
}

// Run removes temporary files an interrupted write left beside the
// snapshot, calls Update at once and then every Interval until ctx ends,
// and returns nil then. A failed write does not stop it: it is tried again
// at the next look; the first failure of a series is logged, and so is the
// write that ends it.
// Run does not write when ctx ends, as other parts may still commit then;
// the owner calls Update once they have stopped, before closing the Store.
func (sn *Snapshotter) Run(ctx context.Context) error {
	sn.removeLeftovers()
	t := time.NewTicker(sn.interval)
	defer t.Stop()
	for {
		sn.runUpdate()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runUpdate is one look of Run.
func (sn *Snapshotter) runUpdate() {
	wrote, err := sn.Update()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	switch {
	case err != nil && !sn.failing:
		sn.failing = true
		sn.log.Error("cannot write the database snapshot; backups keep the previous one until a write succeeds",
			"path", sn.path, "err", err)
	case err == nil && sn.failing:
		sn.failing = false
		sn.log.Info("database snapshot written again", "path", sn.path)
	case wrote:
		sn.log.Debug("database snapshot written", "path", sn.path, "tx", sn.last)
	}
}

// removeLeftovers removes the temporary files of snapshot writes that a
// crash interrupted. Only this process writes them: it holds the
// database's lock.
func (sn *Snapshotter) removeLeftovers() {
	dir, prefix := filepath.Dir(sn.path), tempPrefix(sn.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		sn.log.Warn("cannot look for leftover snapshot files", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if err := os.Remove(name); err != nil {
			sn.log.Warn("cannot remove a leftover snapshot file", "path", name, "err", err)
			continue
		}
		sn.log.Info("removed the leftover of an interrupted snapshot write", "path", name)
	}
}

// tempPrefix is how the name of writeFileAtomic's temporary file for path
// starts.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// RestoreSnapshot makes the database file at dbPath from its snapshot
// (SnapshotPath(dbPath)) when the database file is missing and the snapshot
// is there: the state in which restoring a backup of the data folder
// leaves it, as the backup holds the snapshot and not the live file. Call
// it before Open, with no process using the database.
//
// The snapshot is verified as Check verifies (every page, every record,
// the schema) before a copy of it is synced and linked into place; a
// database file that appears meanwhile is left as it is. RestoreSnapshot
// returns what the restored database holds and true when it restored, and
// false with a nil error when there was nothing to restore. A snapshot that
// fails the check comes back as Check's error (a *DamageError for a damaged
// one), naming the snapshot, and no file is changed.
func RestoreSnapshot(ctx context.Context, dbPath string, timeout time.Duration) (Summary, bool, error) {
	if _, err := os.Lstat(dbPath); !errors.Is(err, os.ErrNotExist) {
		if err != nil {
			return Summary{}, false, fmt.Errorf("restore %s from its snapshot: %w", dbPath, err)
		}
		return Summary{}, false, nil
	}
	snap := SnapshotPath(dbPath)
	if _, err := os.Stat(snap); errors.Is(err, os.ErrNotExist) {
		return Summary{}, false, nil
	}
	sum, err := Check(ctx, snap, timeout)
	if err != nil {
		return sum, false, fmt.Errorf("restore %s from its snapshot: the database file is missing and the snapshot is not usable: %w", dbPath, err)
	}
	restored, err := linkCopy(snap, dbPath)
	if err != nil {
		return sum, false, fmt.Errorf("restore %s from its snapshot %s: %w", dbPath, snap, err)
	}
	return sum, restored, nil
}

// linkCopy copies src to a temporary file beside dest, syncs it and links
// it to dest, unless dest exists by then. It reports whether it made dest.
func linkCopy(src, dest string) (bool, error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	dir := filepath.Dir(dest)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".restore-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(fileMode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), dest); errors.Is(err, os.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, syncDir(dir)
}
