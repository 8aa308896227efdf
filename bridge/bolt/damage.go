package bolt

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// ErrDamaged means the database file cannot be read as it is: it is empty,
// cut short, or its pages or records are garbled. Open and Check return it
// before bbolt reads a damaged page, and leave the file as it was. The error
// is a *DamageError that names the file and what is wrong.
var ErrDamaged = errors.New("database file is damaged")

// DamageError describes a damaged database file. It wraps ErrDamaged.
//
// # Recovery
//
// nuki-invites never repairs, renames or rewrites a damaged file. With
// nuki-invites stopped, the way back is one of:
//
//   - restore a backup over the file (make backups with the backup command or
//     the HTTP API; verify one with the check command first);
//   - move the file aside (mv PATH PATH.damaged) and start again: Open
//     creates a fresh database, and the next sync refills locks, users and
//     authorizations from Nuki Web. What only the database knew is lost: the
//     history of earlier invitations and their codes.
type DamageError struct {
	// Path is the database file.
	Path string
	// Empty is set when the file has no bytes at all.
	Empty bool
	// Problems says what is wrong, in the order found; at most 20.
	Problems []string
}

func (e *DamageError) Error() string {
	if e.Empty {
		return fmt.Sprintf("the database file %s is empty (0 bytes), so it holds no database; nuki-invites left it as it is. "+
			"Stop nuki-invites, then restore a backup to %s, or remove the file to start with a fresh database "+
			"that the next sync refills from Nuki Web", e.Path, e.Path)
	}
	return fmt.Sprintf("the database file %s is damaged: %s. nuki-invites left it as it is. %s",
		e.Path, strings.Join(e.Problems, "; "), e.Recovery())
}

// Unwrap returns ErrDamaged.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// Recovery tells the user the two ways back, naming the file.
func (e *DamageError) Recovery() string {
	return fmt.Sprintf("To recover, stop nuki-invites, then either restore a backup to %s, "+
		"or move the damaged file aside (mv %s %s.damaged): the next start restores the daemon's own snapshot %s "+
		"when there is one, and otherwise starts a fresh database that the next sync refills from Nuki Web, "+
		"without the history of earlier invitations (move the snapshot aside too for that). "+
		"'nuki-invites check FILE' verifies a file", e.Path, e.Path, e.Path, SnapshotPath(e.Path))
}

// guard runs fn, which calls bbolt, and turns a panic, or a memory fault
// while reading the mapped file, into a *DamageError. bbolt panics on some
// inconsistent pages; verifyFile should have refused those files already.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamageError{Path: path, Problems: []string{fmt.Sprintf("reading the file failed: %v", r)}}
		}
	}()
	return fn()
}

// asDamage makes err a *DamageError unless it is one already.
func asDamage(path string, err error) error {
	if err == nil || errors.Is(err, ErrDamaged) {
		return err
	}
	return &DamageError{Path: path, Problems: []string{err.Error()}}
}
