// Package unwritable says why licensor could not write a file or create a
// directory, and what to do about it: a codes.FileUnwritable error whose
// message names the path and the cause (disk full, quota, file size
// limit, read-only file system, permissions, a missing directory, a file
// where a directory should be) and whose fix is written for that cause.
package unwritable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/licensor/licensor/codes"
)

// File is a file or directory licensor failed to write, as the message
// and the fix speak of it. Only Path and Noun are required.
type File struct {
	Path string // the file, or the directory to create
	Noun string // what it is, after "the": "license", "key directory"
	// By is what writes it, after "the user running": "renew",
	// "'licensor issue'". Default "licensor".
	By string
	// Job is what runs it, whose file size limit counts. Default "the
	// process running " + By.
	Job string
	// Then ends the fix, after the cause's remedy. Default "then run the
	// command again."
	Then string
	// Other is how the fix offers another place, before "on a writable
	// one" or "in an existing directory". Default "give " + By + " a " +
	// Noun + " path".
	Other string
	// New is set when the file must not exist yet (it is linked into
	// place, never renamed over an old one).
	New bool
	// Dir is set when Path is a directory to create, not a file.
	Dir bool
}

// Error is codes.FileUnwritable for err, the failure to write f. It wraps
// err.
func (f File) Error(err error) *codes.Error {
	by := f.By
	if by == "" {
		by = "licensor"
	}
	job := f.Job
	if job == "" {
		job = "the process running " + by
	}
	then := f.Then
	if then == "" {
		then = "then run the command again."
	}
	other := f.Other
	if other == "" {
		other = fmt.Sprintf("give %s a %s path", by, f.Noun)
	}
	// where is the directory the entry is made in: for a directory
	// created with its parents, the parent of the one that failed.
	where := filepath.Dir(f.Path)
	if pe, ok := errors.AsType[*fs.PathError](err); ok && f.Dir && pe.Op == "mkdir" {
		where = filepath.Dir(pe.Path)
	}
	var what, fix string
	switch {
	case errors.Is(err, syscall.ENOSPC):
		what = "the disk is full"
		fix = fmt.Sprintf("Free space on the file system that holds %s ('df -h %s' shows it), %s", where, where, then)
	case errors.Is(err, syscall.EDQUOT):
		what = "the disk quota is used up"
		fix = fmt.Sprintf("Free space, or raise the disk quota of the user running %s, on the file system that holds %s, %s", by, where, then)
	case errors.Is(err, syscall.EFBIG):
		what = "the file is larger than this process may write"
		fix = fmt.Sprintf("Raise the file size limit of %s ('ulimit -f', or LimitFSIZE= in its systemd unit), %s", job, then)
	case errors.Is(err, syscall.EROFS):
		what = "the file system is read-only"
		fix = fmt.Sprintf("Remount the file system that holds %s read-write, or %s on a writable one, %s", where, other, then)
	case errors.Is(err, fs.ErrPermission):
		what = "permission denied"
		switch {
		case f.Dir:
			fix = fmt.Sprintf("Let the user running %s create directories in %s, or %s where it may, %s", by, where, other, then)
		case f.New:
			fix = fmt.Sprintf("Let the user running %s create files in %s (the %s is written beside itself first), %s", by, where, f.Noun, then)
		default:
			fix = fmt.Sprintf("Let the user running %s create and rename files in %s (the %s is written beside itself, then renamed over the old one), %s", by, where, f.Noun, then)
		}
	case errors.Is(err, syscall.ENOTDIR):
		start := where
		if f.Dir {
			start = f.Path
		}
		if b := notDir(start); b != "" {
			what = b + " is not a directory"
			fix = fmt.Sprintf("The path goes through %s, which is not a directory: move it away, or %s in a directory, %s", b, other, then)
		} else {
			what = "a part of the path is not a directory"
			fix = fmt.Sprintf("Check every part of %s: one is a file where a directory should be; move it away, or %s in a directory, %s", where, other, then)
		}
	case !f.Dir && (errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist)) && isDir(f.Path):
		// os.Rename says EEXIST for a directory in the way.
		what = "it is a directory"
		fix = fmt.Sprintf("Move the directory %s away, or %s elsewhere, %s", f.Path, other, then)
	case errors.Is(err, fs.ErrNotExist):
		what = "the directory does not exist"
		fix = fmt.Sprintf("Create %s, or %s in an existing directory, %s", where, other, then)
	default:
		what = "the write failed"
		fix = fmt.Sprintf("Check that %s is writable and that its file system reports no I/O errors (the kernel log), %s", where, then)
	}
	verb := "write"
	if f.Dir {
		verb = "create"
	}
	return codes.Errorf(codes.FileUnwritable, "cannot %s the %s %s: %s: %w", verb, f.Noun, f.Path, what, err).WithFix(fix)
}

// notDir returns the nearest of dir and its parents that exists and is
// not a directory, or "" when the nearest that exists is one.
func notDir(dir string) string {
	for p := dir; ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				return ""
			}
			return p
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
