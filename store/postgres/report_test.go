package postgres_test

import (
	"context"
	"testing"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
	"github.com/licensor/licensor/store/storetest"
)

// TestReportsConformance runs the suite the embedded store passes, on
// two nodes sharing the database: the same figures, one chain per node.
func TestReportsConformance(t *testing.T) {
	storetest.RunReports(t, func(t *testing.T) func(string) (store.Store, error) {
		url := pgtest.Database(t)
		return func(node string) (store.Store, error) {
			return postgres.Open(context.Background(), postgres.Config{URL: url, Node: node})
		}
	}, 2)
}
