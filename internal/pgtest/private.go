package pgtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server is a PostgreSQL of a test's own, for a test that stops and
// starts the database under running site servers.
type Server struct {
	URL    string // a superuser's, with its password
	dir    string
	script string
}

// Private starts a PostgreSQL for t alone (scripts/postgres start), and
// stops and removes it when t ends. It skips, or fails under CI, where the
// shared one is not set up (PostgreSQL's server is not installed).
func Private(t testing.TB) *Server {
	t.Helper()
	URL(t)
	script := findScript(t)
	out, err := exec.Command("bash", script, "start").Output()
	if err != nil {
		t.Fatalf("scripts/postgres start: %v\n%s", err, stderr(err))
	}
	s := &Server{script: script}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case Env:
			s.URL = v
		case "TEST_POSTGRES_DIR":
			s.dir = v
		}
	}
	if s.URL == "" || s.dir == "" {
		t.Fatalf("scripts/postgres start said %q", out)
	}
	t.Cleanup(func() { exec.Command("bash", script, "stop", s.dir).Run() })
	return s
}

// Pause stops the server at once, as a crash would (pg_ctl -m immediate).
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("bash", s.script, "pause", s.dir).CombinedOutput(); err != nil {
		t.Fatalf("scripts/postgres pause: %v\n%s", err, out)
	}
}

// Resume starts it again on the same port.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("bash", s.script, "resume", s.dir).CombinedOutput(); err != nil {
		t.Fatalf("scripts/postgres resume: %v\n%s", err, out)
	}
}

// findScript finds scripts/postgres above the test's directory.
func findScript(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "postgres")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("pgtest: no go.mod above the test's directory")
		}
		dir = parent
	}
}

func stderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
