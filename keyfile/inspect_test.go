package keyfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
)

// outcomes is a report in short: "file=pass chain=pass … product ocr=fail:508".
func outcomes(r *license.Report) string {
	var b strings.Builder
	for i, s := range r.Stages {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.Label() + "=" + string(s.Outcome))
		if s.Code != 0 {
			b.WriteString(":" + strconv.Itoa(int(s.Code)))
		}
	}
	return b.String()
}

func TestInspect(t *testing.T) {
	_, otherVendor, _ := keys.Generate()
	const upToDates = "file=pass chain=pass machine=pass clock=pass dates=pass "
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *site)
		product string
		want    string // the outcomes
		found   string // in the first failure's (or warning's) message
	}{
		{name: "valid", product: "ocr", want: upToDates + "product ocr=pass"},
		{name: "every-product", want: upToDates + "product ocr=pass product asr=pass product tts=pass"},
		{name: "tampered-block", product: "ocr", found: "not a key file",
			prepare: func(t *testing.T, s *site) {
				data, _ := os.ReadFile(s.path)
				s.write([]byte(strings.Replace(string(data), "-----END", "AAAA\n-----END", 1)))
			},
			want: "file=fail:523 chain=skip machine=skip clock=skip dates=skip product=skip"},
		{name: "tampered-signature", product: "ocr", found: "does not verify",
			prepare: func(t *testing.T, s *site) {
				c := compactOf(t, s.issue(t, nil))
				i := strings.LastIndexByte(c, '.') + 5
				b := []byte(c)
				b[i] = 'A'
				if c[i] == 'A' {
					b[i] = 'B'
				}
				s.write(b)
			},
			want: "file=pass chain=fail:523 machine=skip clock=skip dates=skip product=skip"},
		{name: "another-vendor", product: "ocr", found: "signed by vendor key",
			prepare: func(t *testing.T, s *site) {
				other := s.signLicense(t, otherVendor, s.serverPub)
				s.write(s.issue(t, func(c *Claims) { c.License = string(other) }))
			},
			want: "file=pass chain=fail:512 machine=skip clock=skip dates=skip product=skip"},
		{name: "missing", product: "ocr", found: "does not exist",
			prepare: func(t *testing.T, s *site) { os.Remove(s.path) },
			want:    "file=fail:520 chain=skip machine=skip clock=skip dates=skip product=skip"},
		{name: "another-machine", product: "ocr", found: "changed: machine-id",
			prepare: func(t *testing.T, s *site) {
				s.host = hostWith(map[string]string{fingerprint.MachineID: "x", fingerprint.MAC: "y"})
			},
			want: "file=pass chain=pass machine=fail:524 clock=pass dates=pass product ocr=pass"},
		{name: "expired", product: "ocr", found: "expired at",
			prepare: func(t *testing.T, s *site) { s.clock.Set(t0.Add(DefaultValidity + time.Second)) },
			want:    "file=pass chain=pass machine=pass clock=pass dates=fail:521 product ocr=pass"},
		{name: "not-yet-valid", product: "ocr", found: "valid from",
			prepare: func(t *testing.T, s *site) {
				s.write(s.issue(t, func(c *Claims) { c.NotBefore = t0.Add(24 * time.Hour).Unix() }))
			},
			want: "file=pass chain=pass machine=pass clock=pass dates=fail:522 product ocr=pass"},
		{name: "rolled-back-before-issue", product: "ocr", found: "issue time",
			prepare: func(t *testing.T, s *site) { s.clock.Set(t0.Add(-time.Hour)) },
			want:    "file=pass chain=pass machine=pass clock=fail:513 dates=fail:522 product ocr=pass"},
		{name: "rolled-back-before-mark", product: "ocr", found: "already saw",
			prepare: func(t *testing.T, s *site) {
				s.clock.Set(t0.Add(3 * time.Hour))
				s.verifier() // the product ran then: the mark is 3 hours after the issue time
				s.clock.Set(t0.Add(time.Hour))
			},
			want: "file=pass chain=pass machine=pass clock=fail:513 dates=pass product ocr=pass"},
		{name: "product-missing", product: "stt", found: `"stt" is not in the key file`,
			want: upToDates + "product stt=fail:508"},
		{name: "product-expired-among-others", found: `"asr" expired`,
			prepare: func(t *testing.T, s *site) { s.clock.Set(t0.AddDate(0, 0, 3).Add(time.Hour)) },
			want:    "file=pass chain=pass machine=pass clock=pass dates=warn product ocr=pass product asr=fail:503 product tts=fail:503"},
		{name: "renewals-failing", product: "ocr", found: "only 2 days left",
			prepare: func(t *testing.T, s *site) { s.clock.Set(t0.Add(5 * 24 * time.Hour)) },
			want:    "file=pass chain=pass machine=pass clock=pass dates=warn product ocr=pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			in := Inspect(s.path, s.vendorPub, Checks{Host: func() (*fingerprint.Fingerprint, error) { return s.host, nil },
				Product: tt.product, Now: s.clock.Now()})
			if got := outcomes(&in.Report); got != tt.want {
				t.Fatalf("stages\n got %s\nwant %s", got, tt.want)
			}
			st, failed := in.Failed()
			if !failed {
				st, _ = in.Warned()
			}
			if !strings.Contains(st.Found, tt.found) {
				t.Errorf("%s: %q does not say %q", st.Label(), st.Found, tt.found)
			}
			if failed && (st.Err == nil || st.Fix == "" || codes.Of(in.Err()) != st.Code) {
				t.Errorf("the failure %+v lacks its error or fix, or is not Err", st)
			}
			for _, st := range in.Stages {
				if st.Found == "" {
					t.Errorf("%s says nothing", st.Label())
				}
			}
			if tt.product == "" {
				return
			}
			// The product's Verifier sees the same, and its Check says the
			// first failure.
			o := s.options()
			o.Product = tt.product
			v, err := NewVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := codes.Of(v.Check()), codes.Of(in.Err()); got != want {
				t.Errorf("Check = %v, Inspect = %v", got, want)
			}
			if got := outcomes(&v.Inspect().Report); got != tt.want {
				t.Errorf("Verifier.Inspect\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestInspectReadsTheMark is the rollback a one-shot check used to miss:
// the key file is good, but this host already saw a later time.
func TestInspectReadsTheMark(t *testing.T) {
	s := newSite(t)
	s.clock.Set(t0.Add(3 * time.Hour))
	s.verifier()
	s.clock.Set(t0.Add(time.Hour))
	data, _ := os.ReadFile(s.path)
	signed, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signed.Verify(s.vendorPub, s.host, "ocr", s.clock.Now()); err != nil {
		t.Fatalf("Verify, which knows no mark: %v", err)
	}
	checks := Checks{Host: func() (*fingerprint.Fingerprint, error) { return s.host, nil }, Product: "ocr", Now: s.clock.Now()}
	in := Inspect(s.path, s.vendorPub, checks)
	if st, _ := in.Stage(license.StageClock); st.Outcome != license.Fail || st.Code != codes.ClockRollback || !strings.Contains(st.Found, "15:00:00") {
		t.Fatalf("clock = %+v", st)
	}
	// Another state file, or none: the key file's own dates rule.
	checks.StateFile = filepath.Join(t.TempDir(), "none")
	if in := Inspect(s.path, s.vendorPub, checks); in.Err() != nil {
		t.Fatalf("with no mark: %v", in.Err())
	}
	os.WriteFile(checks.StateFile, []byte("garbage"), 0o644)
	in = Inspect(s.path, s.vendorPub, checks)
	if st, _ := in.Stage(license.StageClock); st.Outcome != license.Pass || !strings.Contains(st.Found, "does not decode") {
		t.Fatalf("with a broken mark: %+v", st)
	}
}

// TestInspectWritesNothing: a diagnosis leaves the mark as it was.
func TestInspectWritesNothing(t *testing.T) {
	s := newSite(t)
	in := Inspect(s.path, s.vendorPub, Checks{Host: func() (*fingerprint.Fingerprint, error) { return s.host, nil }, Now: s.clock.Now()})
	if err := in.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Fatal("Inspect wrote the high-water mark")
	}
}

// TestCheckWarmAllocatesNothing holds the warm path to zero allocations,
// whatever Inspect keeps beside it.
func TestCheckWarmAllocatesNothing(t *testing.T) {
	s := newSite(t)
	v := s.verifier()
	if n := testing.AllocsPerRun(1000, func() {
		if err := v.Check(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a warm Check allocates %.1f times", n)
	}
}
