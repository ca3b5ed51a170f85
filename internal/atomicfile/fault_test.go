package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// faults are the errors a full or failing disk returns, one per call
// write makes; nil lets the call go to the real file system.
type faults struct {
	create, write, sync, close, rename, syncDir error
}

func (fl faults) ops() fileOps {
	return fileOps{
		createTemp: func(dir, pattern string) (tempFile, error) {
			if fl.create != nil {
				return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: fl.create}
			}
			f, err := os.CreateTemp(dir, pattern)
			if err != nil {
				return nil, err
			}
			return &faultyFile{File: f, faults: fl}, nil
		},
		rename: func(from, to string) error {
			if fl.rename != nil {
				return &os.LinkError{Op: "rename", Old: from, New: to, Err: fl.rename}
			}
			return os.Rename(from, to)
		},
		syncDir: func(dir string) error {
			if fl.syncDir != nil {
				return &fs.PathError{Op: "sync", Path: dir, Err: fl.syncDir}
			}
			return syncDir(dir)
		},
	}
}

// faultyFile is a real temporary file whose calls fail as faults says. A
// failing write stores half the data first, as a disk that fills up
// midway does, so that a half-written temporary file exists to be
// cleaned up.
type faultyFile struct {
	*os.File
	faults faults
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.faults.write == nil {
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:len(p)/2])
	return n, &fs.PathError{Op: "write", Path: f.Name(), Err: f.faults.write}
}

func (f *faultyFile) Sync() error {
	if f.faults.sync != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: f.faults.sync}
	}
	return f.File.Sync()
}

func (f *faultyFile) Close() error {
	err := f.File.Close()
	if f.faults.close != nil {
		return &fs.PathError{Op: "close", Path: f.Name(), Err: f.faults.close}
	}
	return err
}

func TestWriteFileFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults faults
		want   error
		// replaced is true where the failure comes after the rename: the
		// new content is in place, whole, but perhaps not durable.
		replaced bool
	}{
		{"no-space-for-the-temp-file", faults{create: syscall.ENOSPC}, syscall.ENOSPC, false},
		{"disk-full-midway", faults{write: syscall.ENOSPC}, syscall.ENOSPC, false},
		{"write-io-error", faults{write: syscall.EIO}, syscall.EIO, false},
		{"fsync-no-space", faults{sync: syscall.ENOSPC}, syscall.ENOSPC, false},
		{"fsync-io-error", faults{sync: syscall.EIO}, syscall.EIO, false},
		{"close-no-space", faults{close: syscall.ENOSPC}, syscall.ENOSPC, false},
		{"rename-fails", faults{rename: syscall.EIO}, syscall.EIO, false},
		{"directory-fsync-fails", faults{syncDir: syscall.EIO}, syscall.EIO, true},
	}
	old := []byte("the old key file, still valid\n")
	data := []byte("the new key file, longer than the old one so that half of it differs\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "host.key")
			if err := WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			err := tt.faults.ops().write(path, data, 0o644, false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("write = %v, want %v", err, tt.want)
			}
			want := old
			if tt.replaced {
				want = data
			}
			if got, _ := os.ReadFile(path); string(got) != string(want) {
				t.Fatalf("after the failure %s holds %q, want %q", path, got, want)
			}
			assertOnly(t, dir, "host.key")
		})
	}
}

func TestWriteNewFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults faults
		want   error
	}{
		{"disk-full-midway", faults{write: syscall.ENOSPC}, syscall.ENOSPC},
		{"fsync-io-error", faults{sync: syscall.EIO}, syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tt.faults.ops().write(filepath.Join(dir, "vendor.key"), []byte("secret"), 0o600, true)
			if !errors.Is(err, tt.want) {
				t.Fatalf("write = %v, want %v", err, tt.want)
			}
			assertOnly(t, dir)
		})
	}
}

// assertOnly fails unless dir holds exactly the named files: no temporary
// file may be left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}
