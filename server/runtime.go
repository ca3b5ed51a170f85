package server

import (
	"os"
	"runtime/debug"
)

// The garbage collector's settings for a site server. Its live heap is
// small (the pool, the license, a few buffers) while every request
// allocates a little, so with Go's default (GOGC=100) it collects every
// few megabytes, hundreds of times a second under load: a sixth of the
// CPU at 10,000 register+release cycles a second. Letting the heap grow to
// five times what is live cuts that to a few percent; the soft memory limit
// keeps a large pool (100,000 leases) within its memory budget, collecting
// more often as the heap nears it.
const (
	GCPercent   = 400
	MemoryLimit = 224 << 20
)

// TuneGC applies GCPercent and MemoryLimit to this process, each unless
// the environment sets its own (GOGC, GOMEMLIMIT). licensor serve calls it
// at start, and so do the benchmarks that measure a server in process.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
