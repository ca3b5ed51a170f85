package clock

import (
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := NewFake(start)
	if !f.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", f.Now(), start)
	}
	f.Advance(90 * time.Minute)
	if want := start.Add(90 * time.Minute); !f.Now().Equal(want) {
		t.Fatalf("after Advance, Now = %v, want %v", f.Now(), want)
	}
	f.Set(start.Add(-time.Hour))
	if want := start.Add(-time.Hour); !f.Now().Equal(want) {
		t.Fatalf("after Set, Now = %v, want %v", f.Now(), want)
	}
}

func TestSystem(t *testing.T) {
	before := time.Now()
	got := System.Now()
	if got.Before(before) {
		t.Fatalf("System.Now() = %v is before %v", got, before)
	}
}
