// Package readfile reads the small files licensor parses (keys, licenses,
// requests) with a bound on their size, telling a missing file from an
// unreadable one.
package readfile

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/licensor/licensor/codes"
)

// Limited reads at most max+1 bytes of path, so that the parser that
// follows can tell a file that is too large. what names the file for the
// message ("license file"). Failures are codes.FileMissing.
func Limited(path string, max int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, codes.Errorf(codes.FileMissing, "%s %s does not exist", what, path)
		}
		return nil, codes.Errorf(codes.FileMissing, "cannot read the %s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, codes.Errorf(codes.FileMissing, "cannot read the %s: %w", what, err)
	}
	return data, nil
}
