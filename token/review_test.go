//go:build cgo

package token

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/softhsmtest"
	"github.com/miekg/pkcs11"
)

// initialised reports whether the SoftHSM2 module at path is initialised
// in this process, by someone other than the caller.
func initialised(t *testing.T, path string) bool {
	t.Helper()
	p := pkcs11.New(path)
	if p == nil {
		t.Fatalf("%s does not load", path)
	}
	defer p.Destroy()
	err := p.Initialize()
	if err == nil {
		p.Finalize()
		return false
	}
	if e, ok := err.(pkcs11.Error); ok && uint(e) == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		return true
	}
	t.Fatalf("C_Initialize: %v", err)
	return false
}

// TestReviewUseAfterClose: a call on a Module after its last Close (a
// proof racing a server's Close) fails, and leaves the module finalised,
// so the next user of the process reads its own token store.
func TestReviewUseAfterClose(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	ctx := context.Background()
	m, err := Open(ctx, h.Module, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if initialised(t, h.Module) {
		t.Fatal("the module is initialised after the last Close")
	}
	for name, call := range map[string]func() error{
		"Tokens": func() error { _, err := m.Tokens(ctx); return err },
		"Find":   func() error { _, _, err := m.Find(ctx, Selector{}); return err },
		"Prove":  func() error { _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); return err },
		"Rescan": func() error { return m.Rescan(ctx) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s after Close = nil", name)
		} else if codes.Of(err) != codes.HWModule {
			t.Errorf("%s after Close = %v, want code %d", name, err, int(codes.HWModule))
		}
		if initialised(t, h.Module) {
			t.Fatalf("%s after Close initialised the module again, and nothing will finalise it", name)
		}
	}
}

// TestReviewFailingProofsLeakNothing: many proofs of an unplugged token
// leave no goroutine behind, and the module answers once it is back.
func TestReviewFailingProofsLeakNothing(t *testing.T) {
	h := softhsmtest.New(t)
	a := h.InitToken("alpha")
	ka := thumb(t, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(t, h)
	ctx := context.Background()
	if _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatal(err)
	}
	h.Unplug(a)
	before := runtime.NumGoroutine()
	for i := 0; i < 200; i++ {
		if _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); err == nil {
			t.Fatal("a proof with the token unplugged succeeded")
		}
	}
	if after := settledGoroutines(before); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before 200 failing proofs, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	h.Replug(a)
	if _, err := m.Prove(ctx, Selector{}, []byte(a.PIN), ka); err != nil {
		t.Fatalf("the token back: %v", err)
	}
}

// settledGoroutines counts the goroutines once those that are exiting
// (a bounded call's, which answers before it returns) have gone, waiting
// at most a second for the count to fall to want.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 1000 && n > want; i++ {
		time.Sleep(time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}
