// Package logfile is a log file that can be reopened: logrotate renames
// the file and signals the server (SIGHUP), which goes on writing under the
// old name, in a new file, without a restart and without losing a line.
package logfile

import (
	"os"
	"sync"

	"github.com/licensor/licensor/internal/unwritable"
)

// File appends to a log file. It is safe for concurrent use.
type File struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// Open opens path for appending, creating it (mode 0640) when it does not
// exist. Failures are codes.FileUnwritable, with the cause and its fix.
func Open(path string) (*File, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, unwritable.File{Path: path, Noun: "log file (log_file)", By: "'licensor serve'",
			Then: "then start the server again, or leave log_file out to log to standard error."}.Error(err)
	}
	return f, nil
}

// Write appends p.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again, so that writes go to the file now under
// that name. When it cannot be opened, writes go on to the file open now
// and the error says why.
func (l *File) Reopen() error {
	f, err := open(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Path is the file's name.
func (l *File) Path() string { return l.path }

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
