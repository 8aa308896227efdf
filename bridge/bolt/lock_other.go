//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bolt

import (
	"os"
	"time"
)

// lockFile does nothing here: bbolt takes the lock itself in bbolt.Open.
func lockFile(*os.File, bool, time.Duration) error { return nil }
