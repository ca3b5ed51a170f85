package keyfile

import (
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

// BenchmarkCheckWarm is the product's per-call cost: the system clock,
// one atomic load and a few comparisons (the stat once a second is
// amortized into it).
func BenchmarkCheckWarm(b *testing.B) {
	f := newFixture(b)
	now := time.Now()
	path := filepath.Join(b.TempDir(), "licensor.key")
	// The fixture license covers t0 ± a month; sign one for today.
	lic := f.signLicenseAt(b, now)
	data := f.issue(b, func(c *Claims) { c.IssuedAt, c.License = now.Add(-time.Hour).Unix(), string(lic) })
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(Options{Path: path, Vendor: f.vendorPub, Product: "ocr",
		Host:   func() (*fingerprint.Fingerprint, error) { return f.host, nil },
		Clock:  clock.System,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Check(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := v.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckWarmParallel is the same from every CPU at once.
func BenchmarkCheckWarmParallel(b *testing.B) {
	f := newFixture(b)
	now := time.Now()
	path := filepath.Join(b.TempDir(), "licensor.key")
	lic := f.signLicenseAt(b, now)
	data := f.issue(b, func(c *Claims) { c.IssuedAt, c.License = now.Add(-time.Hour).Unix(), string(lic) })
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(Options{Path: path, Vendor: f.vendorPub, Product: "ocr",
		Host:   func() (*fingerprint.Fingerprint, error) { return f.host, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := v.Check(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyCold is a key file checked from its bytes: Parse and
// Verify, the whole chain.
func BenchmarkVerifyCold(b *testing.B) {
	f := newFixture(b)
	data := f.issue(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Verify(f.vendorPub, f.host, "ocr", t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the floor for BenchmarkVerifyCold: the two
// signature checks it cannot avoid, the license's and the key file's.
func BenchmarkEd25519Verify(b *testing.B) {
	f := newFixture(b)
	check := signatureChecks(b, f)
	b.ReportAllocs()
	for b.Loop() {
		check()
	}
}

// signatureChecks returns the two signature checks of f's key file, the
// floor a cold check cannot go below.
func signatureChecks(b *testing.B, f *fixture) func() {
	s, err := Parse(f.issue(b, nil))
	if err != nil {
		b.Fatal(err)
	}
	ls, err := license.Parse(f.license)
	if err != nil {
		b.Fatal(err)
	}
	split := func(compact string) ([]byte, []byte) {
		i := strings.LastIndexByte(compact, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(compact[i+1:])
		return []byte(compact[:i]), sig
	}
	licMsg, licSig := split(ls.Compact)
	kfMsg, kfSig := split(s.Compact)
	check := func() {
		if !ed25519.Verify(f.vendorPub, licMsg, licSig) || !ed25519.Verify(f.serverPub, kfMsg, kfSig) {
			b.Fatal("signatures do not verify")
		}
	}
	check()
	return check
}

// BenchmarkVerifyColdRatio runs BenchmarkVerifyCold's and
// BenchmarkEd25519Verify's loops in alternating rounds and reports their
// ratio, which the machine's drifting speed affects far less than the two
// figures measured apart.
func BenchmarkVerifyColdRatio(b *testing.B) {
	f := newFixture(b)
	data := f.issue(b, nil)
	check := signatureChecks(b, f)
	const round = 64
	var cold, floor time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		for range round {
			s, err := Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Verify(f.vendorPub, f.host, "ocr", t0); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range round {
			check()
		}
		cold, floor, n = cold+mid.Sub(start), floor+time.Since(mid), n+round
	}
	b.ReportMetric(float64(cold.Nanoseconds())/float64(n), "cold-ns/verify")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(n), "ed25519-ns/verify")
	b.ReportMetric(float64(cold)/float64(floor), "ratio")
	b.ReportMetric(0, "ns/op")
}
