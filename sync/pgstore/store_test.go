package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/hub/storetest"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
)

// MustOpen migrates a fresh database and opens a store on it.
func MustOpen(tb testing.TB) *pgstore.Store {
	return openAt(tb, pgtest.DB(tb), pgstore.Options{})
}

// openAt migrates the database at url and opens a store on it with opts
// (a key file of its own if opts names none).
func openAt(tb testing.TB, url string, opts pgstore.Options) *pgstore.Store {
	tb.Helper()
	if opts.KeyFile == "" {
		opts.KeyFile = filepath.Join(tb.TempDir(), "issuing.key")
	}
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

// BenchmarkStore_Drain: 100,000 records through the store in group commits
// of 8,000, beside a bare pgx COPY of rows of the same size into a table
// keyed (terminal, seq), 1,000 rows per transaction, on the same server in
// the same run. Run it against production settings (fsync on).
//
//	records/s    records committed through the store per second
//	pg-rows/s    the bare batched-insert rate
//	x-bare       records/s ÷ pg-rows/s
func BenchmarkStore_Drain(b *testing.B) {
	const n = 100_000
	var store, bare time.Duration
	for i := 0; i < b.N; i++ {
		s := MustOpen(b)
		store += storetest.Drain(b, s, n, 8000)
		bare += bareInsert(b, s, n, 1000)
		s.Close()
	}
	b.ReportMetric(float64(b.N*n)/store.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*n)/bare.Seconds(), "pg-rows/s")
	b.ReportMetric(bare.Seconds()/store.Seconds(), "x-bare")
}

func bareInsert(b *testing.B, s *pgstore.Store, n, batch int) time.Duration {
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE bare (terminal_id text, seq bigint, body bytea, PRIMARY KEY (terminal_id, seq))"); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'v'}, 300)
	t0 := time.Now()
	for j := 0; j < n; j += batch {
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"bare"}, []string{"terminal_id", "seq", "body"},
				pgx.CopyFromSlice(min(batch, n-j), func(i int) ([]any, error) { return []any{"T1", int64(j + i + 1), body}, nil }))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}
