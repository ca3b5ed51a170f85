package store

import (
	"sort"
)

// SortLeases orders leases by product, then Since, then instance id.
func SortLeases(ls []Lease) {
	sort.Slice(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.Product != b.Product {
			return a.Product < b.Product
		}
		if !a.Since.Equal(b.Since) {
			return a.Since.Before(b.Since)
		}
		return a.InstanceID < b.InstanceID
	})
}
