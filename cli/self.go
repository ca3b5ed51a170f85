package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// self is how a command line that licensor prints for a person to run
// starts: "licensor" when that finds this very binary on PATH, else the
// binary's own path, or "go run ./cmd/licensor" when it runs under 'go
// run' (its binary is a temporary file of the go command's, gone when it
// exits).
func (e *Env) self() string {
	exe := e.Executable
	if exe == nil {
		exe = os.Executable
	}
	path, err := exe()
	if err != nil {
		return "licensor"
	}
	if goBuilt(path) {
		return "go run ./cmd/licensor"
	}
	if found, err := exec.LookPath("licensor"); err == nil {
		a, errA := os.Stat(found)
		b, errB := os.Stat(path)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return "licensor"
		}
	}
	return shellWord(path)
}

// goBuilt reports whether path is a binary that the go command built for
// 'go run': in a go-build directory of the temporary directory (or of
// GOTMPDIR), or in the build cache.
func goBuilt(path string) bool {
	for _, dir := range []string{os.TempDir(), os.Getenv("GOTMPDIR")} {
		if dir == "" {
			continue
		}
		if rel, ok := within(dir, path); ok && strings.HasPrefix(rel, "go-build") {
			return true
		}
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "go-build")
		}
	}
	_, ok := within(cache, path)
	return cache != "" && cache != "off" && ok
}

// within returns path relative to dir when path is inside dir.
func within(dir, path string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// shellWord quotes s for a POSIX shell when it holds anything but the
// characters of ordinary paths.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@%=,") == "" {
		return s
	}
	return shQuote(s)
}
