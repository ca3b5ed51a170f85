package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
)

// renewChildEnv carries the renew command line to the child process of
// TestRenewFileSizeLimit, one argument a line; renewChildTime its clock.
const (
	renewChildEnv  = "LICENSOR_TEST_RENEW_ARGS"
	renewChildTime = "LICENSOR_TEST_RENEW_TIME"
)

// TestRenewFileSizeLimit makes writing the key file really fail midway:
// renew runs in a child process (this test binary again) whose file size
// limit is smaller than a key file, with SIGXFSZ ignored, so the kernel
// cuts the write short and then refuses it with EFBIG, as a disk that
// fills up does with ENOSPC. The old key file must stay byte for byte, no
// temporary file may stay behind, and renew must exit 1 naming the path,
// the cause and the fix.
func TestRenewFileSizeLimit(t *testing.T) {
	if os.Getenv(renewChildEnv) != "" {
		renewChild(t)
		return
	}
	site := sitetest.New(t)
	r := site.NewServer("a", sitetest.Product("ocr", 2, 0)).Start("")
	h := newHarness(t)
	h.clock, h.env.Clock = site.Clock, site.Clock
	h.host = sitetest.FakeHost("host-1")
	cert, key := site.Client("renewer")
	dir := filepath.Join(h.dir, "keys")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "host.key")
	args := []string{"renew", keyPath, r.URL, "--ca", site.CA(), "--cert", cert, "--key", key, "--vendor-pub", site.VendorPubFile()}
	h.mustRun(args...)
	old, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestRenewFileSizeLimit$", "-test.count=1")
	cmd.Env = append(os.Environ(), renewChildEnv+"="+strings.Join(args, "\n"),
		renewChildTime+"="+strconv.FormatInt(site.Clock.Now().Unix(), 10))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "renew exit status 1\n") {
		t.Fatalf("renew with the file size limit did not exit 1:\n%s", out)
	}
	for _, want := range []string{
		tag(codes.FileUnwritable) + ": cannot write the key file " + keyPath + ": the file is larger than this process may write",
		"file too large",
		"fix: Raise the file size limit of the renew job",
		"Any key file already at " + keyPath + " was left as it was",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("renew's report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ok, "+keyPath) {
		t.Errorf("renew reported success:\n%s", out)
	}
	if got, _ := os.ReadFile(keyPath); !bytes.Equal(got, old) {
		t.Fatalf("the failed write changed the key file (%d bytes, was %d)", len(got), len(old))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %q, want only host.key", dir, names)
	}
}

// renewChild runs renew with the file size limit lowered below a key
// file's size and reports its exit status and output on standard output.
func renewChild(t *testing.T) {
	sec, err := strconv.ParseInt(os.Getenv(renewChildTime), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = 512 // a key file carries a whole license: several kilobytes
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &out, Clock: clock.NewFake(time.Unix(sec, 0)),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return sitetest.FakeHost("host-1"), nil },
		Hostname:    func() (string, error) { return "host-1", nil }}
	status := Report(&out, e.Run(context.Background(), strings.Split(os.Getenv(renewChildEnv), "\n")))
	fmt.Printf("%s\nrenew exit status %d\n", out.Bytes(), status)
}
