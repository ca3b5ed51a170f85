package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// readmeSkipped are the ```sh blocks the README test does not run, each
// named by its document and its first line (or, with an empty first line,
// every block of a section), and why. A name that matches no block fails
// the test, so the list cannot outlive the README.
var readmeSkipped = []struct{ doc, section, first, why string }{
	{"README.md", "Tests", "scripts/test",
		"runs the repository's whole suite, this test among them"},
	{"README.md", "The flow, command by command", "licensor issue --key vendor/vendor.key --request auth-01.json --request auth-02.json --holder \"ACME Imaging\" \\",
		"needs two nodes' activation requests, made on two hosts; cli/cluster_e2e_test.go issues a cluster license the same way"},
	{"README.md", "Several servers", "",
		"needs PostgreSQL; cli/cluster_e2e_test.go runs this section"},
	{"README.md", "Hardware tokens", "",
		"needs SoftHSM2 and a token store of its own; cli/token_e2e_test.go runs this workflow"},
	{"README.md", "Usage reports", "",
		"needs a site with a history and its paths; cli/report_test.go runs these commands against a real pool"},
	{"README.md", "Console", "",
		"needs a server at that name and a browser; console/browser_test.go runs 'licensor console' against a real server in Chromium"},
}

// readmeBackground are the commands that serve until stopped: the test
// starts them in the background (as a reader runs them in a terminal of
// their own), waits until they answer, and stops them with SIGINT (the
// reader's Ctrl-C) at the end, or when a later one listens on the same
// port. Each must then exit 0.
var readmeBackground = []struct{ prefix, port string }{
	{"licensor quickstart --dir /tmp/licensor-quickstart", "PORT"},
	{"licensor serve --config ", "PORT"},
	{"licensor vendor serve ", "VPORT"},
	{"go run ./examples/protected", ""}, // ready when its seat is in 'licensor status'
}

// readmeInSourceTree are the commands that may run in the source tree,
// where each document starts: they write nothing in the directory they
// run in. Any other command run there fails the test before it runs, so
// that a README that forgets to move to a directory of its own cannot
// leave files (a vendor/ directory, which Go would take for vendored
// modules) in the source tree.
var readmeInSourceTree = []string{"go install ./cmd/licensor", "go run ./examples/", "export ", "licensor --version",
	"licensor quickstart --dir /", "curl ", "mkdir -p /", "licensor status "}

// TestREADME runs every ```sh block of README.md, then of
// examples/protected/README.md, command by command, as written, the way
// a reader types them in a terminal: starting in the source tree, with
// what a command exports and the directory it moves to kept for the next,
// and with only the placeholders a reader must replace substituted (see
// readmeSubstitutions).
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("installs and runs the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	s := &readmeSession{t: t, root: root, tmp: tmp, port: freePort(t), vport: freePort(t)}
	// GOBIN: the README's 'go install' puts the binary in the test's own
	// bin directory, first on PATH, instead of the user's GOPATH.
	env := []string{"GOBIN=" + filepath.Join(tmp, "bin"), "PATH=" + filepath.Join(tmp, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		// A LICENSOR_ variable of the test's own would change what the
		// commands do (and the SDK refuses unknown ones).
		if !strings.HasPrefix(kv, "LICENSOR_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "GOBIN=") && !strings.HasPrefix(kv, "PWD=") {
			env = append(env, kv)
		}
	}
	s.baseEnv = env
	t.Cleanup(s.stopAll)

	seen := map[int]bool{}
	for _, doc := range []string{"README.md", "examples/protected/README.md"} {
		// Each document is read in a terminal of its own, in the source tree.
		s.env, s.dir = append([]string(nil), s.baseEnv...), root
		for _, b := range readmeBlocks(t, filepath.Join(root, doc)) {
			if i := skippedBlock(doc, b); i >= 0 {
				seen[i] = true
				t.Logf("%s, %q: skipped: %s", doc, b.section, readmeSkipped[i].why)
				continue
			}
			for _, c := range b.commands {
				s.run(c)
			}
		}
	}
	for i, sk := range readmeSkipped {
		if !seen[i] {
			t.Errorf("readmeSkipped names a block that is not in %s: %q %q", sk.doc, sk.section, sk.first)
		}
	}
	s.stopExample()
	s.exampleStopsOnSIGTERM()
}

// TestREADMEFuzzCount: the README's fuzz count is the one CI runs.
func TestREADMEFuzzCount(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	r := regexp.MustCompile(`FUZZTIME=(\d+x) scripts/test`).FindSubmatch(readme)
	c := regexp.MustCompile(`FUZZTIME:-(\d+x)\}`).FindSubmatch(ci)
	if r == nil || c == nil || string(r[1]) != string(c[1]) {
		t.Errorf("the README fuzzes %q times, .ci/run %q", r, c)
	}
}

// readmeSubstitutions are the only changes the test makes to a README
// command, each a placeholder a reader replaces with their own:
func (s *readmeSession) readmeSubstitutions(cmd string) string {
	today := time.Now().UTC()
	pairs := []string{
		// The quickstart serves on 8443, which may be taken on the machine
		// running the tests: the test's own free port.
		"licensor quickstart --dir /tmp/licensor-quickstart", "licensor quickstart --dir " + s.tmp + "/licensor-quickstart --listen 127.0.0.1:" + s.port,
		"https://127.0.0.1:8443", "https://127.0.0.1:" + s.port,
		// The reader's host names: they need not resolve here, and the
		// certificates 'pki init' makes also cover 127.0.0.1.
		"https://licensor.example.com:8443", "https://127.0.0.1:" + s.port,
		"https://vendor.example.com:9443", "https://127.0.0.1:" + s.vport,
		// Ports the servers listen on: free ones, on loopback.
		`"listen": ":8443"`, `"listen": "127.0.0.1:` + s.port + `"`,
		"--listen :9443", "--listen 127.0.0.1:" + s.vport,
		// Directories a reader writes as root: under the test's own.
		"/etc/licensor", s.tmp + "/etc/licensor",
		"/var/lib/licensor", s.tmp + "/var/lib/licensor",
		"/tmp/licensor-quickstart", s.tmp + "/licensor-quickstart",
		"/tmp/licensor-demo", s.tmp + "/licensor-demo",
		// A contract's dates are the reader's: moved to today, so that the
		// test passes on any day.
		"not-before=2026-12-01", "not-before=" + today.Format(time.DateOnly),
		"not-after=2027-11-30", "not-after=" + today.AddDate(1, 0, 0).Format(time.DateOnly),
		"--until 2027-12-31", "--until " + today.AddDate(1, 1, 0).Format(time.DateOnly),
		// A load test for a second, not ten: the test checks that the
		// command runs, not its figures, on a machine it shares.
		"--duration 10s", "--duration 1s",
	}
	// The site's machine code: the first line 'licensor fingerprint'
	// printed, as the reader copies it.
	if strings.Contains(cmd, "3f0c…e9") {
		if s.machineCode == "" {
			s.t.Fatalf("%q needs the machine code, and no 'licensor fingerprint' ran before it", cmd)
		}
		pairs = append(pairs, "3f0c…e9", s.machineCode)
	}
	// A token to explain: a verdict the story's server signs, as a reader
	// copies one from an answer or a log.
	if strings.Contains(cmd, "eyJhbGciOi…") {
		pairs = append(pairs, "eyJhbGciOi…", s.verdict())
	}
	return strings.NewReplacer(pairs...).Replace(cmd)
}

type readmeBlock struct {
	section  string   // the heading above it
	commands []string // one per command: continuation lines and here-documents kept whole
}

// readmeBlocks returns the ```sh blocks of a Markdown file, in order.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if strings.HasPrefix(line, "```") && line != "```sh" {
			for sc.Scan() && sc.Text() != "```" { // another language's block, or output
			}
			continue
		}
		if line != "```sh" {
			continue
		}
		var lines []string
		for sc.Scan() && sc.Text() != "```" {
			lines = append(lines, sc.Text())
		}
		blocks = append(blocks, readmeBlock{section: section, commands: splitCommands(lines)})
	}
	return blocks
}

var hereDoc = regexp.MustCompile(`<<-?'?(\w+)'?`)

// splitCommands splits a block's lines into commands: a line ending in a
// backslash goes on, and a here-document runs to its end marker.
func splitCommands(lines []string) []string {
	var cmds []string
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" || strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
			continue
		}
		cmd := []string{lines[i]}
		for strings.HasSuffix(lines[i], "\\") && i+1 < len(lines) {
			i++
			cmd = append(cmd, lines[i])
		}
		if m := hereDoc.FindStringSubmatch(lines[i]); m != nil {
			for i+1 < len(lines) {
				i++
				cmd = append(cmd, lines[i])
				if lines[i] == m[1] {
					break
				}
			}
		}
		cmds = append(cmds, strings.Join(cmd, "\n"))
	}
	return cmds
}

// skippedBlock is the index in readmeSkipped of the entry naming b, or -1.
func skippedBlock(doc string, b readmeBlock) int {
	for i, sk := range readmeSkipped {
		if sk.doc == doc && sk.section == b.section && (sk.first == "" || len(b.commands) > 0 && strings.SplitN(b.commands[0], "\n", 2)[0] == sk.first) {
			return i
		}
	}
	return -1
}

// readmeSession is a reader's terminal: the environment and the directory
// carry over from one command to the next.
type readmeSession struct {
	t               *testing.T
	root, tmp       string
	port, vport     string
	baseEnv, env    []string
	dir             string
	machineCode     string
	background      []*readmeProcess
	example         *readmeProcess
	exampleInstance string
}

type readmeProcess struct {
	cmd  string
	port string
	proc *exec.Cmd
	out  *sitetest.Buffer
	done chan error
}

func (s *readmeSession) run(readme string) {
	t := s.t
	t.Helper()
	if s.dir == s.root && !slices.ContainsFunc(readmeInSourceTree, func(p string) bool { return strings.HasPrefix(readme, p) }) {
		t.Fatalf("README command would run in the source tree, and may write there: %s\n(move to a directory of its own first, or list it in readmeInSourceTree if it writes nothing where it runs)", readme)
	}
	cmd := s.readmeSubstitutions(readme)
	for _, bg := range readmeBackground {
		if strings.HasPrefix(readme, bg.prefix) {
			s.start(readme, cmd, bg.port)
			return
		}
	}
	if strings.HasPrefix(cmd, "curl ") {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Logf("curl is not installed: %q not run", readme)
			return
		}
	}
	state := filepath.Join(s.tmp, "readme-env")
	// The command in a group, then the environment it leaves, for the
	// next command: what it exported, and PWD where it moved to.
	script := "{\n" + cmd + "\n}\n__status=$?\nenv -0 > \"$README_TEST_STATE\"\nexit $__status\n"
	c := exec.Command("sh", "-c", script)
	c.Dir = s.dir
	c.Env = append(append([]string(nil), s.env...), "PWD="+s.dir, "README_TEST_STATE="+state)
	var stdout, both sitetest.Buffer // stdout and stderr are copied by two goroutines
	c.Stdout = io.MultiWriter(&stdout, &both)
	c.Stderr = &both
	if err := c.Run(); err != nil {
		t.Fatalf("README command failed: %v\n%s\n(as run: %s)\n%s", err, readme, cmd, both.String())
	}
	t.Logf("ran: %s", firstLine(readme))
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	s.env = s.env[:0]
	for _, kv := range strings.Split(string(data), "\x00") {
		switch {
		case kv == "", strings.HasPrefix(kv, "README_TEST_STATE="):
		case strings.HasPrefix(kv, "PWD="):
			s.dir = strings.TrimPrefix(kv, "PWD=")
		default:
			s.env = append(s.env, kv)
		}
	}
	if strings.HasPrefix(readme, "licensor fingerprint") {
		s.machineCode = strings.SplitN(stdout.String(), "\n", 2)[0]
	}
}

// start runs a serving command in the background, in a process group of
// its own (so that SIGINT reaches 'go run's program as Ctrl-C does), and
// waits until it answers.
func (s *readmeSession) start(readme, cmd, port string) {
	t := s.t
	t.Helper()
	addr := ""
	switch port {
	case "PORT":
		addr = "127.0.0.1:" + s.port
	case "VPORT":
		addr = "127.0.0.1:" + s.vport
	}
	for _, p := range s.background {
		if addr != "" && p.port == addr && p.done != nil {
			// The reader stops the server before it in that terminal.
			s.stop(p)
		}
	}
	c := exec.Command("sh", "-c", "exec "+cmd)
	c.Dir = s.dir
	c.Env = append(append([]string(nil), s.env...), "PWD="+s.dir)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &sitetest.Buffer{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &readmeProcess{cmd: readme, port: addr, proc: c, out: out, done: make(chan error, 1)}
	go func() { p.done <- c.Wait() }()
	s.background = append(s.background, p)
	t.Logf("started: %s", firstLine(readme))
	ready := func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}
	if addr == "" {
		s.example = p
		ready = s.exampleSeated
	}
	deadline := time.Now().Add(2 * time.Minute) // 'go run' compiles first
	for !ready() {
		select {
		case err := <-p.done:
			p.done = nil
			t.Fatalf("%s exited: %v\n%s", cmd, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready\n%s", cmd, out.String())
		}
		time.Sleep(100 * time.Millisecond) // waiting for a process to start, not for time to pass
	}
}

// stop sends SIGINT to p's process group, as Ctrl-C does, and expects
// exit status 0; but 'go run' exits 1 after an interrupt whatever its
// program did (Go's own rule), so the program's own status is checked
// apart, by exampleStopsOnSIGTERM.
func (s *readmeSession) stop(p *readmeProcess) {
	s.t.Helper()
	if p.done == nil {
		return
	}
	syscall.Kill(-p.proc.Process.Pid, syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil && !strings.HasPrefix(p.cmd, "go run ") {
			s.t.Errorf("%s: after Ctrl-C: %v\n%s", p.cmd, err, p.out.String())
		}
	case <-time.After(time.Minute):
		syscall.Kill(-p.proc.Process.Pid, syscall.SIGKILL)
		<-p.done
		s.t.Errorf("%s did not stop on SIGINT\n%s", p.cmd, p.out.String())
	}
	p.done = nil
}

func (s *readmeSession) stopAll() {
	for i := len(s.background) - 1; i >= 0; i-- {
		s.stop(s.background[i])
	}
}

// stopExample stops the example program as its README says (Ctrl-C) and
// checks that it said what it did and released its seat.
func (s *readmeSession) stopExample() {
	t := s.t
	if s.example == nil {
		t.Fatal("the example program never ran")
	}
	s.stop(s.example)
	if !strings.Contains(s.example.out.String(), "did ") {
		t.Errorf("the example did not say how much work it did:\n%s", s.example.out.String())
	}
	if s.exampleSeated() {
		t.Errorf("the example's seat %q is still held after it stopped", s.exampleInstance)
	}
}

// exampleStopsOnSIGTERM runs the example program itself (not under 'go
// run'), as the session left it set up, and stops it with SIGTERM, as a
// service manager does: it exits 0 and releases its seat.
func (s *readmeSession) exampleStopsOnSIGTERM() {
	t := s.t
	bin := filepath.Join(s.tmp, "protected")
	build := exec.Command("go", "build", "-o", bin, "./examples/protected")
	build.Dir = s.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/protected: %v\n%s", err, out)
	}
	c := exec.Command(bin)
	c.Env = s.env
	out := &sitetest.Buffer{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for deadline := time.Now().Add(time.Minute); !s.exampleSeated(); {
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("the example took no seat\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond) // waiting for a process to start, not for time to pass
	}
	c.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil || !strings.Contains(out.String(), "did ") {
		t.Errorf("the example after SIGTERM: %v\n%s", err, out.String())
	}
	if s.exampleSeated() {
		t.Errorf("the example's seat %q is still held after SIGTERM", s.exampleInstance)
	}
}

// exampleSeated reports whether the quickstart server, as 'licensor
// status' shows it, holds the example program's seat.
func (s *readmeSession) exampleSeated() bool {
	qs := filepath.Join(s.tmp, "licensor-quickstart", "pki")
	out, err := exec.Command(filepath.Join(s.tmp, "bin", "licensor"), "status", "--server", "https://127.0.0.1:"+s.port,
		"--ca", filepath.Join(qs, "ca.crt"), "--cert", filepath.Join(qs, "clients", "admin.crt"), "--key", filepath.Join(qs, "clients", "admin.key"), "--json").Output()
	if err != nil {
		return false
	}
	var st struct {
		Products []server.ProductPool `json:"products"`
	}
	if json.Unmarshal(out, &st) != nil {
		return false
	}
	if s.exampleInstance == "" {
		host, _ := os.Hostname()
		s.exampleInstance = host + "/demo" // the SDK's default instance id
	}
	for _, p := range st.Products {
		for _, l := range p.Instances {
			if l.InstanceID == s.exampleInstance {
				return true
			}
		}
	}
	return false
}

// verdict asks the story's site server for a verdict token, with the
// story's instance certificate.
func (s *readmeSession) verdict() string {
	t := s.t
	t.Helper()
	dir := filepath.Join(s.tmp, "etc", "licensor", "pki")
	tlsCfg, err := pki.ClientTLSConfig(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "clients", "ocr-host-1.crt"), filepath.Join(dir, "clients", "ocr-host-1.key"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(api.InstanceRequest{Product: "ocr", InstanceID: "readme-token"})
	resp, err := client.Post("https://127.0.0.1:"+s.port+api.PathAuthorize, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v api.VerdictBody
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Verdict == "" {
		t.Fatalf("no verdict from the story's server: HTTP %d, code %d, %v", resp.StatusCode, v.Code, err)
	}
	return v.Verdict
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func freePort(t *testing.T) string {
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}
