package main

import (
	"runtime/debug"
	"testing"
)

func TestLimitMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		name, env string
		before    int64
		want      int64
	}{
		{"no limit set: the default", "", 1<<63 - 1, defaultMemoryLimit},
		{"GOMEMLIMIT set: left alone", "100MiB", 100 << 20, 100 << 20},
		{"GOMEMLIMIT=off: left alone", "off", 1<<63 - 1, 1<<63 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(tc.before)
			limitMemory(func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			})
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("memory limit %d, want %d", got, tc.want)
			}
		})
	}
}
