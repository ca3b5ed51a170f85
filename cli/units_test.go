package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/licensor/licensor/internal/jsonconfig"
)

const unitsDir = "../dist/systemd"

// unitService reads the [Service] section of a unit: each key's values in
// order, continuation lines joined.
func unitService(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section, pending := "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

func serviceUnits(t *testing.T) []string {
	t.Helper()
	units, err := filepath.Glob(filepath.Join(unitsDir, "*.service"))
	if err != nil || len(units) < 3 {
		t.Fatalf("units in %s: %v, %v", unitsDir, units, err)
	}
	return units
}

// TestSystemdUnitsNameRealFlags: every ExecStart of the shipped units is a
// licensor command line the command table parses (command, flags and
// their values), and the server units are hardened, reload with SIGHUP
// and may write where the example configuration puts the data.
func TestSystemdUnitsNameRealFlags(t *testing.T) {
	for _, path := range serviceUnits(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			svc := unitService(t, path)
			if len(svc["ExecStart"]) != 1 {
				t.Fatalf("ExecStart: %q", svc["ExecStart"])
			}
			args := strings.Fields(svc["ExecStart"][0])
			if args[0] != "/usr/local/bin/licensor" {
				t.Fatalf("ExecStart runs %s, not /usr/local/bin/licensor", args[0])
			}
			c, rest := find(args[1:])
			if c == nil {
				t.Fatalf("ExecStart: no licensor command %q", args[1:])
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			e := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
			if _, err := e.parse(c, fs, rest); err != nil {
				t.Fatalf("ExecStart %q: %v", svc["ExecStart"][0], err)
			}
			for _, k := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes"} {
				key, want, _ := strings.Cut(k, "=")
				if got := svc[key]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %s", key, got, want)
				}
			}
			if c.name == "renew" {
				return
			}
			for _, k := range []string{"User=licensor", "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID", "CapabilityBoundingSet="} {
				key, want, _ := strings.Cut(k, "=")
				if got := svc[key]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			// The example configuration it names keeps its data where the
			// unit lets it write.
			config := fs.Lookup("config").Value.String()
			example := filepath.Join("..", "examples", "config", filepath.Base(config))
			data, err := os.ReadFile(example)
			if err != nil {
				t.Fatalf("--config %s has no example: %v", config, err)
			}
			var settings struct {
				DataDir string `json:"data_dir"`
			}
			if err := json.Unmarshal(jsonconfig.StripComments(data), &settings); err != nil {
				t.Fatal(err)
			}
			if rw := strings.Join(svc["ReadWritePaths"], " "); !strings.Contains(" "+rw+" ", " "+settings.DataDir+" ") {
				t.Errorf("ReadWritePaths %q lacks %s, the data_dir of %s", rw, settings.DataDir, example)
			}
			if want := strings.TrimPrefix(settings.DataDir, "/var/lib/"); strings.Join(svc["StateDirectory"], " ") != want {
				t.Errorf("StateDirectory %q, want %s", svc["StateDirectory"], want)
			}
		})
	}
	// The server example's log_file, when turned on, is in the unit's
	// LogsDirectory.
	data, _ := os.ReadFile(filepath.Join("..", "examples", "config", "server.json"))
	on, _ := uncommented(t, data)
	var settings struct {
		LogFile string `json:"log_file"`
	}
	json.Unmarshal(jsonconfig.StripComments([]byte(on)), &settings)
	svc := unitService(t, filepath.Join(unitsDir, "licensor.service"))
	if dir := "/var/log/" + strings.Join(svc["LogsDirectory"], ""); filepath.Dir(settings.LogFile) != dir {
		t.Errorf("the example's log_file %q is not in the unit's LogsDirectory %s", settings.LogFile, dir)
	}
}

// TestSystemdAnalyze runs systemd's own checks on the units, where
// systemd-analyze is installed: 'verify' (syntax, unknown keys, the
// binary executable) and, offline, 'security' (the exposure level).
func TestSystemdAnalyze(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	self, err := os.Executable() // stands in for /usr/local/bin/licensor: verify checks it is executable
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var units []string
	all, _ := filepath.Glob(filepath.Join(unitsDir, "*.timer"))
	for _, path := range append(serviceUnits(t), all...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.Base(path))
		os.WriteFile(out, bytes.ReplaceAll(data, []byte("/usr/local/bin/licensor"), []byte(self)), 0o644)
		units = append(units, out)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, units...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	level := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`)
	for _, u := range units {
		if !strings.HasSuffix(u, ".service") || strings.HasSuffix(u, "-renew.service") {
			continue
		}
		out, err := exec.Command(analyze, "security", "--offline=true", u).CombinedOutput()
		if err != nil && bytes.Contains(out, []byte("--offline")) {
			t.Skipf("systemd-analyze security has no --offline: %s", out)
		}
		m := level.FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", filepath.Base(u), err, out)
		}
		if string(m[2]) != "OK" {
			t.Errorf("%s: exposure %s %s, want OK", filepath.Base(u), m[1], m[2])
		}
	}
}
