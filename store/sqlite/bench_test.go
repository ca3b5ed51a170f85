package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/store"
)

// BenchmarkAcquireRelease measures durable register+release cycles from
// parallel clients (b.SetParallelism scales the client count).
func BenchmarkAcquireRelease(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "licensor.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("i-", n.Add(1))
		for pb.Next() {
			now := t0
			if _, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "app", Limit: 1 << 20, TTL: time.Minute, Now: now}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: id, Reason: store.KindRelease, Actor: "app", Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRenew measures durable heartbeats.
func BenchmarkRenew(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "licensor.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("i-", n.Add(1))
		s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Holder: "app", Limit: 1 << 20, TTL: time.Minute, Now: t0})
		for pb.Next() {
			if _, err := s.Renew(ctx, store.RenewRequest{Product: "ocr", InstanceID: id, Holder: "app", TTL: time.Minute, Now: t0}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
