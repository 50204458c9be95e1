//go:build linux

package protocol

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) the test process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTimer reports "cpu-ns/op" next to ns/op: on a loaded shared machine the
// wall-clock figure includes time spent descheduled, the CPU figure much less.
func cpuTimer(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
