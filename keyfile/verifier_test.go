package keyfile

import (
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/atomicfile"
)

// site is a host with a key file and a fake clock.
type site struct {
	*fixture
	t     *testing.T
	clock *clock.Fake
	path  string
	state string
	warns []time.Duration
	mu    sync.Mutex
}

func newSite(t *testing.T) *site {
	dir := t.TempDir()
	s := &site{fixture: newFixture(t), t: t, clock: clock.NewFake(t0.Add(time.Hour)),
		path: filepath.Join(dir, "licensor.key"), state: filepath.Join(dir, "licensor.key.seen")}
	s.write(s.issue(t, nil))
	return s
}

func (s *site) write(data []byte) {
	s.t.Helper()
	if err := atomicfile.WriteFile(s.path, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) options() Options {
	return Options{
		Path: s.path, Vendor: s.vendorPub, Product: "ocr", Clock: s.clock,
		Host:   func() (*fingerprint.Fingerprint, error) { return s.host, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnExpiring: func(left time.Duration) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.warns = append(s.warns, left)
		},
	}
}

func (s *site) verifier() *Verifier {
	s.t.Helper()
	v, err := NewVerifier(s.options())
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := codes.Of(err); got != want {
		t.Fatalf("Check = %v, want code %v", err, want)
	}
}

func TestVerifier(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *site)
	}{
		{"valid", func(t *testing.T, s *site) {
			v := s.verifier()
			wantCode(t, v.Check(), codes.OK)
			c, left, err := v.Info()
			if err != nil || c.Machine != s.host.Code || left != DefaultValidity-time.Hour {
				t.Fatalf("Info = %+v, %s, %v", c, left, err)
			}
			if _, err := os.Stat(s.state); err != nil {
				t.Fatalf("no high-water mark written: %v", err)
			}
		}},
		{"missing-file", func(t *testing.T, s *site) {
			os.Remove(s.path)
			v := s.verifier()
			wantCode(t, v.Check(), codes.KeyFileMissing)
			if c, _, _ := v.Info(); c != nil {
				t.Fatalf("Info claims = %+v with no file", c)
			}
			// The renew client writes one: picked up a second later.
			s.write(s.issue(t, nil))
			wantCode(t, v.Check(), codes.KeyFileMissing)
			s.clock.Advance(time.Second)
			wantCode(t, v.Check(), codes.OK)
		}},
		{"warm-checks-do-not-stat", func(t *testing.T, s *site) {
			v := s.verifier()
			wantCode(t, v.Check(), codes.OK)
			os.Remove(s.path)
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(999 * time.Millisecond)
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(time.Millisecond)
			wantCode(t, v.Check(), codes.KeyFileMissing)
		}},
		{"renewed-file-picked-up", func(t *testing.T, s *site) {
			v := s.verifier()
			first, _, _ := v.Info()
			s.write(s.issue(t, func(c *Claims) { c.IssuedAt = t0.Add(30 * time.Minute).Unix() }))
			if c, _, _ := v.Info(); c.ID != first.ID {
				t.Fatalf("re-read within the second: %s", c.ID)
			}
			s.clock.Advance(time.Second)
			c, left, err := v.Info()
			if err != nil || c.ID == first.ID || left != DefaultValidity-30*time.Minute-time.Second {
				t.Fatalf("after renewal: %+v, %s, %v", c, left, err)
			}
		}},
		{"tampered-then-renewed", func(t *testing.T, s *site) {
			data := s.issue(t, nil)
			s.write([]byte(strings.Replace(string(data), "-----END", "x-----END", 1)))
			v := s.verifier()
			wantCode(t, v.Check(), codes.KeyFileTampered)
			s.write(data)
			s.clock.Advance(time.Second)
			wantCode(t, v.Check(), codes.OK)
		}},
		{"expired", func(t *testing.T, s *site) {
			v := s.verifier()
			s.clock.Set(t0.Add(DefaultValidity))
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(time.Second)
			wantCode(t, v.Check(), codes.KeyFileExpired)
		}},
		{"another-machine", func(t *testing.T, s *site) {
			s.host = hostWith(map[string]string{fingerprint.MAC: "00:1b:21:aa:bb:cc", fingerprint.MachineID: "cloned"})
			err := s.verifier().Check()
			wantCode(t, err, codes.KeyFileMachine)
			if !strings.Contains(err.Error(), "machine-id, mac") {
				t.Fatalf("error does not name the changed components: %v", err)
			}
		}},
		{"product-not-in-key-file", func(t *testing.T, s *site) {
			o := s.options()
			o.Product = "ocr-fast"
			v, err := NewVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, v.Check(), codes.ProductUnlicensed)
		}},
		{"clock-rolled-back-below-issue-time", func(t *testing.T, s *site) {
			s.clock.Set(t0.Add(-10 * time.Minute))
			wantCode(t, s.verifier().Check(), codes.ClockRollback)
		}},
		{"clock-rolled-back-while-running", func(t *testing.T, s *site) {
			v := s.verifier()
			s.clock.Advance(3 * time.Hour)
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(-10 * time.Minute)
			wantCode(t, v.Check(), codes.ClockRollback)
			s.clock.Advance(6 * time.Minute) // within the tolerance again
			wantCode(t, v.Check(), codes.OK)
		}},
		{"high-water-mark-survives-restart", func(t *testing.T, s *site) {
			v := s.verifier()
			s.clock.Advance(2 * time.Hour)
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(-10 * time.Minute)
			err := s.verifier().Check()
			wantCode(t, err, codes.ClockRollback)
			if !strings.Contains(err.Error(), "already saw") {
				t.Fatalf("error does not name the mark: %v", err)
			}
			// Within the tolerance the new process runs.
			s.clock.Advance(7 * time.Minute)
			wantCode(t, s.verifier().Check(), codes.OK)
		}},
		{"high-water-mark-written-once-a-minute", func(t *testing.T, s *site) {
			v := s.verifier()
			if _, err := os.Stat(s.state); err != nil {
				t.Fatal(err)
			}
			os.Remove(s.state)
			s.clock.Advance(30 * time.Second)
			wantCode(t, v.Check(), codes.OK)
			if _, err := os.Stat(s.state); err == nil {
				t.Fatalf("mark rewritten after 30 s")
			}
			s.clock.Advance(31 * time.Second)
			wantCode(t, v.Check(), codes.OK)
			if _, err := os.Stat(s.state); err != nil {
				t.Fatalf("mark not rewritten after a minute: %v", err)
			}
		}},
		{"expired-time-leaves-no-mark", func(t *testing.T, s *site) {
			v := s.verifier()
			s.clock.Set(t0.AddDate(1, 0, 0)) // a clock set far ahead by mistake
			wantCode(t, v.Check(), codes.KeyFileExpired)
			s.clock.Set(t0.Add(2 * time.Hour))
			wantCode(t, s.verifier().Check(), codes.OK)
		}},
		{"on-expiring-fires-daily", func(t *testing.T, s *site) {
			v := s.verifier()
			s.clock.Set(t0.Add(DefaultValidity - WarnWithin - time.Second))
			wantCode(t, v.Check(), codes.OK)
			if len(s.warns) != 0 {
				t.Fatalf("warned with more than 5 days left: %v", s.warns)
			}
			s.clock.Advance(2 * time.Second)
			wantCode(t, v.Check(), codes.OK)
			s.clock.Advance(time.Hour)
			wantCode(t, v.Check(), codes.OK)
			if len(s.warns) != 1 || s.warns[0] != WarnWithin-time.Second {
				t.Fatalf("warnings %v, want one with 5 days less a second left", s.warns)
			}
			s.clock.Advance(23 * time.Hour)
			wantCode(t, v.Check(), codes.OK)
			if len(s.warns) != 2 {
				t.Fatalf("warnings %v, want a second one a day later", s.warns)
			}
		}},
		{"bad-options", func(t *testing.T, s *site) {
			for _, o := range []Options{{}, {Path: s.path}, {Path: s.path, Vendor: s.vendorPub}, {Path: s.path, Vendor: ed25519.PublicKey{1}, Product: "ocr"}} {
				if _, err := NewVerifier(o); codes.Of(err) != codes.InvalidArgument {
					t.Errorf("NewVerifier(%+v) = %v", o, err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newSite(t))
		})
	}
}

// TestVerifierAgreesWithVerify checks that the warm path's precomputed
// window gives the answer the full check gives, at the edges of every
// date the key file and its license carry.
func TestVerifierAgreesWithVerify(t *testing.T) {
	s := newSite(t)
	data := s.issue(t, func(c *Claims) { c.NotBefore = t0.Add(time.Hour).Unix() })
	s.write(data)
	signed, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, at := range []time.Time{t0.Add(-DefaultTolerance), t0.Add(time.Hour - DefaultTolerance), t0.Add(DefaultValidity),
		t0.AddDate(0, 0, 3), t0.Add(48 * time.Hour), t0.AddDate(0, -1, 0)} {
		times = append(times, at.Add(-time.Nanosecond), at, at.Add(time.Nanosecond))
	}
	for _, product := range []string{"ocr", "asr", "tts", "stt"} {
		for _, at := range times {
			_, want := signed.Verify(s.vendorPub, s.host, product, at)
			s.clock.Set(at)
			o := s.options()
			o.Product, o.StateFile = product, filepath.Join(t.TempDir(), "seen")
			v, err := NewVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Check(); codes.Of(got) != codes.Of(want) {
				t.Errorf("%s at %s: Check = %v, Verify = %v", product, at.Format(time.RFC3339Nano), got, want)
			}
			if got := v.Inspect().Err(); codes.Of(got) != codes.Of(want) {
				t.Errorf("%s at %s: Inspect = %v, Verify = %v", product, at.Format(time.RFC3339Nano), got, want)
			}
		}
	}
}

func TestVerifierConcurrent(t *testing.T) {
	s := newSite(t)
	v := s.verifier()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if err := v.Check(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 200 {
		s.clock.Advance(700 * time.Millisecond)
	}
	s.write(s.issue(t, nil))
	wg.Wait()
}
