package logfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/licensor/licensor/codes"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRotate does what logrotate does: rename the file, then ask for a
// reopen; lines before go to the renamed file, lines after to a new one.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "licensor.log")
	os.WriteFile(path, []byte("kept\n"), 0o640)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("two\n")) // still the old file: the process has not been told
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("three\n"))
	if got := read(t, path+".1"); got != "kept\none\ntwo\n" {
		t.Errorf("rotated file = %q", got)
	}
	if got := read(t, path); got != "three\n" {
		t.Errorf("new file = %q", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("new file mode %v, want 0640", st.Mode().Perm())
	}
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(filepath.Join(dir, "no", "such", "dir", "licensor.log"))
	if codes.Of(err) != codes.FileUnwritable {
		t.Fatalf("Open in a missing directory = %v, want file_unwritable", err)
	}
	// A reopen that fails keeps the file open.
	path := filepath.Join(dir, "licensor.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Rename(path, path+".1")
	os.Mkdir(path, 0o700) // a directory now holds the name
	if err := l.Reopen(); codes.Of(err) != codes.FileUnwritable {
		t.Fatalf("Reopen onto a directory = %v, want file_unwritable", err)
	}
	if _, err := l.Write([]byte("still\n")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path+".1"); got != "still\n" {
		t.Errorf("after a failed reopen the old file has %q", got)
	}
}
