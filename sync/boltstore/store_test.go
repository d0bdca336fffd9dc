package boltstore_test

import (
	"context"
	"testing"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/hub/storetest"
)

// MustOpen opens a store in a temporary directory; at cleanup the file
// must pass Check.
func MustOpen(tb testing.TB) *boltstore.Store {
	tb.Helper()
	dir := tb.TempDir()
	s, err := boltstore.Open(dir, boltstore.Options{Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := boltstore.Open(dir, boltstore.Options{ReadOnly: true})
		if err != nil {
			tb.Errorf("reopen for check: %v", err)
			return
		}
		defer c.Close()
		for _, p := range c.Check(context.Background()) {
			tb.Errorf("check: %v", p)
		}
	})
	return s
}

func TestStore_Contract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) hub.Store { return MustOpen(tb) })
}
