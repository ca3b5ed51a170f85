//go:build cgo

package token

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/miekg/pkcs11"
)

// library is one PKCS#11 module loaded in this process, shared by every
// Module opened on its path. It is never unloaded: loaders share a
// library's state between every dlopen of it anyway, and some modules do
// not survive being unloaded and loaded again.
type library struct {
	key  string // the module's real path
	path string // as the first Open named it, for messages

	// sem is held by the one goroutine inside the module.
	sem chan struct{}
	// proving is held through a whole presence proof: a token's login
	// state is shared by all of the process's sessions on it, so two
	// proofs must not interleave their logins.
	proving chan struct{}

	mu  sync.Mutex
	cur *inflight // the call inside the module, if any
	gen uint64    // counts initialisations; sessions do not outlive one

	// Set only by calls holding sem.
	p      *pkcs11.Ctx
	inited bool
	// refs counts the open Modules; guarded by registry.mu.
	refs int
}

// inflight is a call inside the module.
type inflight struct {
	name      string
	since     time.Time
	abandoned bool // its caller gave up waiting: the module is stuck
}

var registry = struct {
	mu   sync.Mutex
	libs map[string]*library
}{libs: map[string]*library{}}

// acquire returns the library for path, counting one more user.
func acquire(path string) (*library, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, codes.Errorf(codes.HWModule, "module %s: %w", path, err)
	}
	key, err := filepath.EvalSymlinks(abs)
	if err != nil {
		key = abs
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	l := registry.libs[key]
	if l == nil {
		l = &library{key: key, path: path, sem: make(chan struct{}, 1), proving: make(chan struct{}, 1)}
		registry.libs[key] = l
	}
	l.refs++
	return l, nil
}

// release counts one user less; the last one finalises the module.
func (l *library) release(timeout time.Duration) error {
	registry.mu.Lock()
	l.refs--
	last := l.refs == 0
	registry.mu.Unlock()
	if !last {
		return nil
	}
	return l.call(context.Background(), timeout, "C_Finalize", l.finalizeUnused)
}

// finalizeUnused finalises the module if no Module uses it (one may have
// been opened since the last was closed). It runs holding sem.
func (l *library) finalizeUnused() error {
	registry.mu.Lock()
	used := l.refs > 0
	registry.mu.Unlock()
	if used || !l.inited {
		return nil
	}
	l.inited = false
	l.mu.Lock()
	l.gen++
	l.mu.Unlock()
	if err := l.p.Finalize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		return l.device("C_Finalize", err)
	}
	return nil
}

// initialize loads and initialises the module unless it is. It runs
// holding sem.
func (l *library) initialize() error {
	if l.inited {
		return nil
	}
	if l.p == nil {
		p := pkcs11.New(l.key)
		if p == nil {
			return notLibrary(l.path)
		}
		l.p = p
	}
	if err := l.p.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return codes.Errorf(codes.HWModule, "module %s: C_Initialize failed with %s: the token's driver or its configuration is missing or unreadable", l.path, rvName(err))
	}
	l.inited = true
	l.mu.Lock()
	l.gen++
	l.mu.Unlock()
	return nil
}

// reinitialize finalises and initialises the module again, so that it
// reads its slots afresh, unless that happened since generation seen.
// A module every Module has closed stays finalised: a call racing the
// last Close fails rather than initialise it again for no one.
func (l *library) reinitialize(ctx context.Context, timeout time.Duration, seen uint64) error {
	return l.call(ctx, timeout, "C_Finalize and C_Initialize", func() error {
		registry.mu.Lock()
		used := l.refs > 0
		registry.mu.Unlock()
		if !used {
			return codes.Errorf(codes.HWModule, "module %s was closed", l.path)
		}
		if l.generation() != seen && l.inited {
			return nil // someone else did it
		}
		if l.inited {
			l.inited = false
			l.mu.Lock()
			l.gen++
			l.mu.Unlock()
			if err := l.p.Finalize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
				return l.device("C_Finalize", err)
			}
		}
		return l.initialize()
	})
}

func (l *library) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// call runs fn, which calls into the module, bounded by timeout: it waits
// at most timeout for the module to be free and as long again for fn. A
// call that overruns is abandoned to finish on its own; until it does,
// every call answers codes.HWTimeout at once, so that goroutines do not
// pile up behind a module that hangs.
func (l *library) call(ctx context.Context, timeout time.Duration, name string, fn func() error) error {
	if err := l.stuck(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return l.ctxDone(ctx, name)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.sem <- struct{}{}:
	case <-t.C:
		if err := l.stuck(); err != nil {
			return err
		}
		return codes.Errorf(codes.HWTimeout, "module %s: %s waited %s for another call to the module to return", l.path, name, timeout)
	case <-ctx.Done():
		return l.ctxDone(ctx, name)
	}
	t.Reset(timeout)
	me := &inflight{name: name, since: time.Now()}
	l.mu.Lock()
	l.cur = me
	l.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		err := fn()
		l.mu.Lock()
		abandoned := me.abandoned
		l.cur = nil
		l.mu.Unlock()
		<-l.sem
		done <- err
		if abandoned {
			// Nobody waits for this call; if every Module was closed
			// meanwhile, finalise what it initialised.
			l.call(context.Background(), timeout, "C_Finalize", l.finalizeUnused)
		}
	}()
	var gaveUp error
	select {
	case err := <-done:
		return err
	case <-t.C:
		gaveUp = codes.Errorf(codes.HWTimeout, "module %s did not return from %s within %s", l.path, name, timeout)
	case <-ctx.Done():
		gaveUp = l.ctxDone(ctx, name)
	}
	l.mu.Lock()
	finished := l.cur != me
	if !finished {
		me.abandoned = true
	}
	l.mu.Unlock()
	if finished {
		return <-done
	}
	return gaveUp
}

// ctxDone is the error of a call whose context ended first:
// codes.HWTimeout, wrapping the context's error.
func (l *library) ctxDone(ctx context.Context, name string) error {
	return codes.Errorf(codes.HWTimeout, "module %s: %s did not return before the caller gave up: %w", l.path, name, ctx.Err())
}

// stuck returns the codes.HWTimeout of a module that has not returned
// from an abandoned call, or nil.
func (l *library) stuck() error {
	l.mu.Lock()
	c := l.cur
	l.mu.Unlock()
	if c == nil || !c.abandoned {
		return nil
	}
	return codes.Errorf(codes.HWTimeout, "module %s has not returned from %s, called %s ago: it hangs, so licensor does not call it again until it returns",
		l.path, c.name, time.Since(c.since).Round(time.Millisecond))
}

// notLibrary says why path could not be loaded as a PKCS#11 module.
func notLibrary(path string) error {
	what := "cannot be loaded as a shared library, or has no C_GetFunctionList"
	if f, err := os.Open(path); err == nil {
		var magic [4]byte
		n, _ := f.Read(magic[:])
		f.Close()
		if n < 4 || string(magic[:]) != "\x7fELF" {
			what = "is not a shared library (not an ELF file)"
		} else {
			what = "is a shared library but not a PKCS#11 module (no C_GetFunctionList), or one built for another system"
		}
	}
	return codes.Errorf(codes.HWModule, "module %s %s", path, what)
}

// isRV reports whether err is the PKCS#11 return value rv.
func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// rvName is the CKR_ name of a PKCS#11 error.
func rvName(err error) string {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	s := e.Error() // "pkcs11: 0x5: CKR_GENERAL_ERROR"
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			if n := s[i+1:]; n != "" {
				return n
			}
			break
		}
	}
	return s
}

// device is an unexpected PKCS#11 error: codes.HWDevice naming it.
func (l *library) device(call string, err error) error {
	return codes.Errorf(codes.HWDevice, "module %s: %s returned %s", l.path, call, rvName(err))
}

// busy reports whether a call is inside the module.
func (l *library) busy() bool { return len(l.sem) > 0 }
