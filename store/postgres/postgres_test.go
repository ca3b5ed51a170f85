package postgres_test

import (
	"context"
	"testing"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/postgres"
	"github.com/licensor/licensor/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		url := pgtest.Database(t)
		return func() (store.Store, error) {
			return postgres.Open(context.Background(), postgres.Config{URL: url, Node: "n1"})
		}
	})
}
