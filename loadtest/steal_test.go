package loadtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseCPULine(t *testing.T) {
	for _, tt := range []struct {
		name string
		line string
		want cpuTimes
	}{
		{"linux", "cpu  111578 0 59700 289443 2081 0 21874 7977 0 0\n", cpuTimes{total: 111578 + 59700 + 289443 + 2081 + 21874 + 7977, steal: 7977, ok: true}},
		{"no-guest-fields", "cpu 1 2 3 4 5 6 7 8", cpuTimes{total: 36, steal: 8, ok: true}},
		{"guest-not-counted", "cpu 1 0 0 0 0 0 0 0 1000 1000", cpuTimes{total: 1, steal: 0, ok: true}},
		{"no-steal", "cpu 1 2 3 4 5 6 7\n", cpuTimes{}},
		{"one-cpu-line", "cpu0 1 2 3 4 5 6 7 8", cpuTimes{}},
		{"not-a-number", "cpu 1 2 3 4 5 6 7 x", cpuTimes{}},
		{"negative", "cpu 1 2 3 4 5 6 7 -8", cpuTimes{}},
		{"overflow", "cpu 18446744073709551615 1 0 0 0 0 0 0", cpuTimes{}},
		{"empty", "", cpuTimes{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCPULine([]byte(tt.line)); got != tt.want {
				t.Errorf("parseCPULine(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func FuzzParseCPULine(f *testing.F) {
	f.Add([]byte("cpu  111578 0 59700 289443 2081 0 21874 7977 0 0\n"))
	f.Add([]byte("cpu 1 2 3 4 5 6 7"))
	f.Fuzz(func(t *testing.T, line []byte) {
		c := parseCPULine(line)
		if !c.ok && c != (cpuTimes{}) {
			t.Errorf("not ok, yet %+v", c)
		}
		if c.steal > c.total {
			t.Errorf("steal %d over total %d", c.steal, c.total)
		}
	})
}

func TestStealShare(t *testing.T) {
	a := cpuTimes{total: 1000, steal: 10, ok: true}
	for _, tt := range []struct {
		name string
		b    cpuTimes
		want float64
	}{
		{"a-tenth", cpuTimes{total: 2000, steal: 110, ok: true}, 0.1},
		{"none", cpuTimes{total: 2000, steal: 10, ok: true}, 0},
		{"no-time", a, -1},
		{"not-read", cpuTimes{}, -1},
		{"steal-went-back", cpuTimes{total: 2000, steal: 5, ok: true}, -1},
		{"more-steal-than-time", cpuTimes{total: 1001, steal: 20, ok: true}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := stealShare(a, tt.b); got != tt.want {
				t.Errorf("stealShare = %v, want %v", got, tt.want)
			}
		})
	}
	if got := stealShare(cpuTimes{}, a); got != -1 {
		t.Errorf("from nothing read: %v", got)
	}
}

// TestReadCPUTimes reads the kernel's file where there is one, and a
// file that is not there as unknown.
func TestReadCPUTimes(t *testing.T) {
	if _, err := os.Stat(procStat); err == nil {
		if c := readCPUTimes(); !c.ok || c.total == 0 {
			t.Errorf("%s: %+v", procStat, c)
		}
	}
	old := procStat
	defer func() { procStat = old }()
	procStat = filepath.Join(t.TempDir(), "stat")
	if c := readCPUTimes(); c.ok {
		t.Errorf("a missing file: %+v", c)
	}
	if err := os.WriteFile(procStat, []byte("cpu 1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := readCPUTimes(); c != (cpuTimes{total: 36, steal: 8, ok: true}) {
		t.Errorf("a file of ours: %+v", c)
	}
}
