package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.lic")
	for _, content := range []string{"first", "second, longer content"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("read %q, want %q", got, content)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestWriteNewRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vendor.key")
	if err := WriteNew(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(path, []byte("two"), 0o600)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteNew = %v, want ErrExists", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "one" {
		t.Fatalf("existing file changed to %q", got)
	}
}

func TestWriteNewRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var wg sync.WaitGroup
	wins := make(chan int, 8)
	for i := range 8 {
		wg.Go(func() {
			if WriteNew(path, []byte{byte('a' + i)}, 0o600) == nil {
				wins <- i
			}
		})
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Fatalf("%d writers won, want exactly 1", n)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	if err := WriteFile(path, []byte("x"), 0o600); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
}
