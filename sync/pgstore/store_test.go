package pgstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/hub/storetest"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
)

// MustOpen migrates a fresh database and opens a store on it.
func MustOpen(tb testing.TB) *pgstore.Store {
	tb.Helper()
	url := pgtest.DB(tb)
	opts := pgstore.Options{KeyFile: filepath.Join(tb.TempDir(), "issuing.key")}
	ctx := context.Background()
	if _, err := pgstore.Migrate(ctx, url, opts); err != nil {
		tb.Fatal(err)
	}
	s, err := pgstore.Open(ctx, url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore_Contract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) hub.Store { return MustOpen(tb) })
}

func TestMigrate(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	opts := pgstore.Options{KeyFile: filepath.Join(t.TempDir(), "issuing.key")}
	if _, err := pgstore.Open(ctx, url, opts); !errors.Is(err, hub.ErrNotInitialised) {
		t.Fatalf("open before init: got %v, want ErrNotInitialised", err)
	}
	first, err := pgstore.Migrate(ctx, url, opts)
	if err != nil || len(first) == 0 {
		t.Fatalf("first migrate: %v %v", first, err)
	}
	again, err := pgstore.Migrate(ctx, url, opts)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", again, err)
	}
	s, err := pgstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := hub.New(s, hub.Options{Create: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	id := h.KeyID()
	h.Close()
	// Another key file does not open the keys.
	other := pgstore.Options{KeyFile: filepath.Join(t.TempDir(), "other.key")}
	if _, err := pgstore.Migrate(ctx, url, other); err != nil {
		t.Fatal(err)
	}
	s2, err := pgstore.Open(ctx, url, other)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.IssuingKeys(ctx); !errors.Is(err, pgstore.ErrKeyFile) {
		t.Fatalf("keys with another key file: got %v, want ErrKeyFile", err)
	}
	s3, err := pgstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	h, err = hub.New(s3, hub.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.KeyID() != id {
		t.Fatalf("key id %s after reopen, want %s", h.KeyID(), id)
	}
}
