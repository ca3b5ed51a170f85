package loadtest

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// A virtual machine's figures move with what its host gives other guests:
// the CPU time the hypervisor took from this machine while it had work
// ("steal", in /proc/stat) can be a tenth of a run and more. Run reads it
// over the measured part, so that a figure that reads low says why.

// cpuTimes is the machine's CPU time so far, all CPUs together, in the
// kernel's clock ticks: in all, and stolen by the hypervisor.
type cpuTimes struct {
	total, steal uint64
	ok           bool
}

// procStat is where the kernel reports it.
var procStat = "/proc/stat"

// readCPUTimes reads procStat; not ok where it cannot (not Linux).
func readCPUTimes() cpuTimes {
	f, err := os.Open(procStat)
	if err != nil {
		return cpuTimes{}
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil {
		return cpuTimes{}
	}
	return parseCPULine(line)
}

// parseCPULine reads /proc/stat's first line, "cpu  user nice system idle
// iowait irq softirq steal guest guest_nice", of which the first eight
// make the total (guest time is already counted in user). A line without
// steal (kernels before 2.6.11) or with a field that is not a number is
// not ok.
func parseCPULine(line []byte) cpuTimes {
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, f := range fields[1:9] {
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return cpuTimes{}
		}
		if t.total+v < t.total {
			return cpuTimes{} // overflows: not the kernel's
		}
		t.total += v
		if i == 7 {
			t.steal = v
		}
	}
	t.ok = true
	return t
}

// stealShare is the part of the CPU time between a and b that was stolen,
// 0 to 1; negative when it cannot be told (not read, no time passed, or
// counters that went back).
func stealShare(a, b cpuTimes) float64 {
	if !a.ok || !b.ok || b.total <= a.total || b.steal < a.steal || b.steal-a.steal > b.total-a.total {
		return -1
	}
	return float64(b.steal-a.steal) / float64(b.total-a.total)
}
