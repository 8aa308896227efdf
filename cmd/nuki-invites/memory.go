package main

import (
	"math"
	"runtime"
	"runtime/debug"
)

// The daemon's memory settings. Home Assistant runs on small boxes and the
// daemon is idle most of the time, so collecting more often costs little.
const (
	// defaultMemoryLimit is the soft limit the garbage collector keeps the
	// daemon's memory under when GOMEMLIMIT does not set one. It is soft: a
	// larger account (above some 10,000 invitations) is never refused
	// memory, it is collected more often.
	defaultMemoryLimit = 32 << 20
	// defaultGCPercent lets the heap grow by half of what is live before
	// the next collection when GOGC does not say otherwise (Go's default
	// is as much again).
	defaultGCPercent = 50
)

// tuneMemory sets defaultMemoryLimit and defaultGCPercent unless the
// environment set its own (GOMEMLIMIT, GOGC, which Go reads itself; "off"
// lifts either), and turns off the sampling of allocations for memory
// profiles, which nothing reads and whose records stay for good.
func tuneMemory(getenv func(string) string) {
	runtime.MemProfileRate = 0
	if getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
