package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	for _, tc := range []struct {
		name        string
		env         map[string]string
		limit       int64 // before and after
		wantLimit   int64
		percent     int
		wantPercent int
	}{
		{"nothing set: the defaults", nil, 1<<63 - 1, defaultMemoryLimit, 100, defaultGCPercent},
		{"GOMEMLIMIT set: left alone", map[string]string{"GOMEMLIMIT": "100MiB"}, 100 << 20, 100 << 20, 100, defaultGCPercent},
		{"GOMEMLIMIT=off: left alone", map[string]string{"GOMEMLIMIT": "off"}, 1<<63 - 1, 1<<63 - 1, 100, defaultGCPercent},
		{"GOGC set: left alone", map[string]string{"GOGC": "200"}, 1<<63 - 1, defaultMemoryLimit, 200, 200},
		{"GOGC=off: left alone", map[string]string{"GOGC": "off"}, 1<<63 - 1, defaultMemoryLimit, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(tc.limit)
			debug.SetGCPercent(tc.percent)
			runtime.MemProfileRate = 512 * 1024
			tuneMemory(func(k string) string { return tc.env[k] })
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
			if got := debug.SetGCPercent(tc.wantPercent); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if runtime.MemProfileRate != 0 {
				t.Errorf("allocations are still sampled for memory profiles (MemProfileRate %d)", runtime.MemProfileRate)
			}
		})
	}
}
