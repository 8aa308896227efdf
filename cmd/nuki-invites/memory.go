package main

import (
	"math"
	"runtime/debug"
)

// defaultMemoryLimit is the soft limit the garbage collector keeps the
// daemon's memory under when GOMEMLIMIT does not set one. Home Assistant
// runs on small boxes; the daemon is idle most of the time, so collecting
// more often costs little. It is soft: a larger account (above some 10,000
// invitations) is never refused memory, it is collected more often.
const defaultMemoryLimit = 32 << 20

// limitMemory sets defaultMemoryLimit unless the environment set a limit
// of its own (GOMEMLIMIT, which Go reads itself; "off" lifts it).
func limitMemory(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
