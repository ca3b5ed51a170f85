package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/storetest"
)

func TestReportsConformance(t *testing.T) {
	storetest.RunReports(t, func(t *testing.T) func(string) (store.Store, error) {
		path := filepath.Join(t.TempDir(), "licensor.db")
		return func(string) (store.Store, error) { return Open(path) }
	}, 1)
}
