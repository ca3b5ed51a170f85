// Package atomicfile writes files so that readers see the old content or
// the new, never a part: write a temporary file beside the target, fsync
// it, rename it over the target, fsync the directory.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by WriteNew when the target already exists.
var ErrExists = errors.New("file exists")

// WriteFile atomically replaces path with data, created with perm.
//
// When it fails, path still holds its old content and no temporary file is
// left behind; only when syncing the directory fails, after the rename,
// may path hold the new content already (whole, but perhaps not durable).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return osOps.write(path, data, perm, false)
}

// WriteNew writes data to path atomically, failing with ErrExists if path
// exists already (also when another writer creates it in the meantime).
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	return osOps.write(path, data, perm, true)
}

// tempFile is what write needs of the temporary file; *os.File is one.
type tempFile interface {
	Name() string
	Chmod(fs.FileMode) error
	Write([]byte) (int, error)
	Sync() error
	Close() error
}

// fileOps are the file system calls that can fail on a full or failing
// disk. The package's tests write through ops that fail the way such a
// disk does (ENOSPC, EIO), which a real file system cannot be made to do
// on demand.
type fileOps struct {
	createTemp func(dir, pattern string) (tempFile, error)
	rename     func(from, to string) error
	syncDir    func(dir string) error
}

var osOps = fileOps{
	createTemp: func(dir, pattern string) (tempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		return f, nil
	},
	rename:  os.Rename,
	syncDir: syncDir,
}

func (o fileOps) write(path string, data []byte, perm fs.FileMode, exclusive bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if exclusive {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
	}
	f, err := o.createTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		// A hard link fails if the target exists, closing the window between
		// the check above and the rename.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %w", path, ErrExists)
			}
			return err
		}
		os.Remove(tmp)
	} else if err := o.rename(tmp, path); err != nil {
		return err
	}
	return o.syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
