package unwritable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/atomicfile"
)

// TestError: each cause is named in the message, and the fix speaks of
// it, of the directory, of who writes the file and ends as told.
func TestError(t *testing.T) {
	const dir = "/srv/vendor"
	path := filepath.Join(dir, "site.lic")
	tmp := filepath.Join(dir, ".site.lic.tmp-1234")
	file := File{Path: path, Noun: "license", By: "'licensor issue'"}
	tests := []struct {
		name     string
		f        File
		err      error
		msg, fix string
	}{
		{"disk-full", file, &fs.PathError{Op: "write", Path: tmp, Err: syscall.ENOSPC},
			"cannot write the license /srv/vendor/site.lic: the disk is full", "'df -h /srv/vendor'"},
		{"quota", file, &fs.PathError{Op: "write", Path: tmp, Err: syscall.EDQUOT},
			"the disk quota is used up", "the disk quota of the user running 'licensor issue'"},
		{"file-size-limit", file, &fs.PathError{Op: "write", Path: tmp, Err: syscall.EFBIG},
			"the file is larger than this process may write", "the file size limit of the process running 'licensor issue' ('ulimit -f'"},
		{"read-only", file, &fs.PathError{Op: "open", Path: tmp, Err: syscall.EROFS},
			"the file system is read-only", "give 'licensor issue' a license path on a writable one"},
		{"permission", file, &fs.PathError{Op: "open", Path: tmp, Err: syscall.EACCES},
			"permission denied", "create and rename files in /srv/vendor (the license is written beside itself, then renamed over the old one)"},
		{"permission-new-file", File{Path: path, Noun: "private key", New: true}, &fs.PathError{Op: "open", Path: tmp, Err: syscall.EACCES},
			"cannot write the private key /srv/vendor/site.lic: permission denied", "Let the user running licensor create files in /srv/vendor (the private key is written beside itself first)"},
		{"permission-directory", File{Path: "/srv/vendor/pki/clients", Noun: "clients directory", Dir: true},
			&fs.PathError{Op: "mkdir", Path: "/srv/vendor/pki", Err: syscall.EACCES},
			"cannot create the clients directory /srv/vendor/pki/clients: permission denied", "create directories in /srv/vendor,"},
		{"no-directory", file, &fs.PathError{Op: "open", Path: tmp, Err: syscall.ENOENT},
			"the directory does not exist", "Create /srv/vendor, or give 'licensor issue' a license path in an existing directory"},
		{"rename-io-error", file, &os.LinkError{Op: "rename", Old: tmp, New: path, Err: syscall.EIO},
			"the write failed", "Check that /srv/vendor is writable"},
		{"then", File{Path: path, Noun: "grant", By: "the site server", Then: "then wait."}, &fs.PathError{Op: "write", Path: tmp, Err: syscall.ENOSPC},
			"cannot write the grant", "then wait."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.f.Error(tt.err)
			if e.Code != codes.FileUnwritable {
				t.Errorf("code = %s, want %s", e.Code, codes.FileUnwritable)
			}
			if !strings.Contains(e.Detail(), tt.msg) || !strings.HasSuffix(e.Detail(), ": "+tt.err.Error()) {
				t.Errorf("message = %q, want it to hold %q and end with the cause", e.Detail(), tt.msg)
			}
			if !errors.Is(e, tt.err) {
				t.Errorf("%v does not wrap %v", e, tt.err)
			}
			then := tt.f.Then
			if then == "" {
				then = "then run the command again."
			}
			if !strings.Contains(e.Fix, tt.fix) || !strings.HasSuffix(e.Fix, then) {
				t.Errorf("fix = %q, want it to hold %q and end with %q", e.Fix, tt.fix, then)
			}
		})
	}
}

// TestErrorNotDirectory: real faults that stop root too: a path that goes
// through a regular file (the message names that file), and a directory
// where the file should be.
func TestErrorNotDirectory(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "plain")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(blocker, "sub", "site.lic")
		err := atomicfile.WriteFile(path, []byte("x"), 0o644)
		if err == nil {
			t.Fatal("writing through a regular file succeeded")
		}
		e := File{Path: path, Noun: "license"}.Error(err)
		if want := "cannot write the license " + path + ": " + blocker + " is not a directory: "; !strings.HasPrefix(e.Detail(), want) {
			t.Errorf("message = %q, want it to start with %q", e.Detail(), want)
		}
		if !strings.Contains(e.Fix, "goes through "+blocker+", which is not a directory") {
			t.Errorf("fix = %q", e.Fix)
		}
	})
	t.Run("directory-in-place", func(t *testing.T) {
		path := filepath.Join(dir, "site.lic")
		if err := os.MkdirAll(filepath.Join(path, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		err := atomicfile.WriteFile(path, []byte("x"), 0o644)
		if err == nil {
			t.Fatal("writing over a directory succeeded")
		}
		e := File{Path: path, Noun: "license"}.Error(err)
		if want := "cannot write the license " + path + ": it is a directory: "; !strings.HasPrefix(e.Detail(), want) {
			t.Errorf("message = %q, want it to start with %q", e.Detail(), want)
		}
		if !strings.HasPrefix(e.Fix, "Move the directory "+path+" away") {
			t.Errorf("fix = %q", e.Fix)
		}
	})
	t.Run("directory", func(t *testing.T) {
		err := os.MkdirAll(blocker, 0o700)
		if err == nil {
			t.Fatal("creating a directory over a regular file succeeded")
		}
		e := File{Path: blocker, Noun: "key directory", Dir: true}.Error(err)
		if want := "cannot create the key directory " + blocker + ": " + blocker + " is not a directory: "; !strings.HasPrefix(e.Detail(), want) {
			t.Errorf("message = %q, want it to start with %q", e.Detail(), want)
		}
	})
}
