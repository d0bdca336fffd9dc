package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestMigrate_VoucherLive: a database of schema 3 with live redemptions and
// holds in vouchers migrates to voucher_live: every redemption and hold is
// where it was, minted codes and revocations stay, rows kept only for a
// redemption or hold go, and the moved redemptions still forbid a second.
func TestMigrate_VoucherLive(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	opts := pgstore.Options{KeyFile: filepath.Join(t.TempDir(), "issuing.key")}
	if applied, err := pgstore.MigrateTo(ctx, url, opts, 3); err != nil || len(applied) != 3 {
		t.Fatalf("migrate to 3: %v %v", applied, err)
	}
	until := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO vouchers (id, code, revoked_at, redeemed_terminal, redeemed_seq, hold_terminal, hold_until) VALUES
		(1, 'C1', NULL, 'T1', 1, NULL, NULL),
		(2, NULL, NULL, 'T1', 2, 'T2', $1),
		(3, 'C3', NULL, NULL, NULL, 'T2', $1),
		(4, 'C4', NULL, NULL, NULL, NULL, NULL),
		(5, NULL, $1, NULL, NULL, NULL, NULL),
		(-6, NULL, NULL, 'T1', 3, NULL, NULL)`, until)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := pgstore.Migrate(ctx, url, opts)
	if err != nil || len(applied) != 1 || applied[0] != 4 {
		t.Fatalf("migrate: %v %v, want [4]", applied, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM vouchers").Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d vouchers rows after the migration (%v), want 4: those minted or revoked", n, err)
	}
	s, err := pgstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type want struct {
		redeemed, hold, code string
		revoked              bool
	}
	wants := map[terminal.VoucherID]want{
		1: {redeemed: "T1-0000000001", code: "C1"}, 2: {redeemed: "T1-0000000002", hold: "T2"},
		3: {hold: "T2", code: "C3"}, 4: {code: "C4"}, 5: {revoked: true}, terminal.VoucherID(1<<64 - 6): {redeemed: "T1-0000000003"},
	}
	var vs []terminal.VoucherID
	for v := range wants {
		vs = append(vs, v)
	}
	err = s.Commit(ctx, &hub.Keys{Vouchers: vs}, func(tx hub.Tx) error {
		for v, w := range wants {
			r, _, err1 := tx.Redeemed(v)
			h, _, err2 := tx.Hold(v)
			c, _, err3 := tx.Minted(v)
			rv, err4 := tx.Revoked(v)
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				return err
			}
			if r != w.redeemed || h.TerminalID != w.hold || c != w.code || rv != w.revoked || w.hold != "" && !h.Until.Equal(until) {
				return fmt.Errorf("voucher %d: redeemed %q hold %+v code %q revoked %v; want %+v", v, r, h, c, rv, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, &hub.Keys{Vouchers: []terminal.VoucherID{1}}, func(tx hub.Tx) error { return tx.SetRedeemed(1, "T2-0000000001") })
	if !errors.Is(err, hub.ErrExists) {
		t.Fatalf("a second live redemption of a moved one: got %v, want ErrExists", err)
	}
	// A refund frees it: its row goes; a hold expired by the sweep goes too.
	err = s.Commit(ctx, &hub.Keys{Vouchers: []terminal.VoucherID{1}}, func(tx hub.Tx) error {
		if err := tx.ClearRedeemed(1); err != nil {
			return err
		}
		n, err := tx.DeleteHoldsBefore(until)
		if err == nil && n != 2 {
			err = fmt.Errorf("%d expired holds dropped, want 2", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var live []int64
	rows, _ := conn.Query(ctx, "SELECT voucher_id FROM voucher_live ORDER BY voucher_id")
	if live, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil || fmt.Sprint(live) != "[-6 2]" {
		t.Fatalf("live rows %v (%v), want [-6 2]", live, err)
	}
}

// TestCommit_HoldRacesRedemption: an offline redemption and another
// terminal's online claim of the same voucher, decided at once in two
// transactions that both read the voucher free before either writes, never
// both win: neither locks a row that does not exist yet, but both insert
// the voucher's live row, and the loser runs again and sees the winner's.
func TestCommit_HoldRacesRedemption(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	defer s.Close()
	const rounds = 20
	for i := range rounds {
		v := terminal.VoucherID(1000 + i)
		keys := &hub.Keys{Vouchers: []terminal.VoucherID{v}}
		var arrived sync.WaitGroup
		arrived.Add(2)
		both := make(chan struct{})
		go func() { arrived.Wait(); close(both) }()
		meet := func(first *bool) {
			if *first {
				*first = false
				arrived.Done()
				select {
				case <-both:
				case <-time.After(time.Second):
				}
			}
		}
		errs := make(chan error, 2)
		var runs atomic.Int32
		go func() {
			first := true
			errs <- s.Commit(ctx, keys, func(tx hub.Tx) error {
				runs.Add(1)
				h, held, err := tx.Hold(v)
				if err != nil {
					return err
				}
				meet(&first)
				if held && h.TerminalID != "T1" {
					return nil // declined: held elsewhere
				}
				return tx.SetRedeemed(v, "T1-0000000001")
			})
		}()
		go func() {
			first := true
			errs <- s.Commit(ctx, keys, func(tx hub.Tx) error {
				runs.Add(1)
				_, redeemed, err := tx.Redeemed(v)
				if err != nil {
					return err
				}
				meet(&first)
				if redeemed {
					return nil // claim conflict
				}
				return tx.PutHold(v, hub.Hold{TerminalID: "T2", Until: time.Now().Add(time.Hour)})
			})
		}()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if n := runs.Load(); n < 3 {
			t.Fatalf("round %d: %d runs; the loser of the race must run again", i, n)
		}
		err := s.Commit(ctx, keys, func(tx hub.Tx) error {
			_, redeemed, err1 := tx.Redeemed(v)
			_, held, err2 := tx.Hold(v)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if redeemed == held {
				return fmt.Errorf("voucher %d: redeemed %v, held %v; want exactly one", v, redeemed, held)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommit_LiveReadPlannedPerGroup: the group's locking read of
// voucher_live is planned with its own keys each time. A connection that
// ran it a dozen times while the table was small and analyzed so
// (PostgreSQL then caches a generic plan: a scan of the whole table, each
// row against every key) reads it by its key once the table holds 200,000
// rows: no scan of the table reads them (pg_stat_user_tables.seq_tup_read,
// reported when the store's connection ends).
func TestCommit_LiveReadPlannedPerGroup(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	s := openAt(t, url, pgstore.Options{MaxConns: 1})
	defer s.Close()
	next := terminal.VoucherID(1)
	group := func() {
		t.Helper()
		vs := make([]terminal.VoucherID, 10)
		for i := range vs {
			vs[i], next = next, next+1
		}
		err := s.Commit(ctx, &hub.Keys{Vouchers: vs}, func(tx hub.Tx) error {
			for _, v := range vs {
				if err := tx.SetRedeemed(v, terminal.RecordID("T1", uint64(v))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for range 6 {
		group()
	}
	// As autovacuum would while the table is small: one page, a few rows.
	if _, err := conn.Exec(ctx, "ANALYZE voucher_live"); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		group()
	}
	const rows = 200_000
	if _, err := conn.Exec(ctx, `INSERT INTO voucher_live (voucher_id, redeemed_terminal, redeemed_seq)
		SELECT 1000000 + g, 'T9', g FROM generate_series(1, $1::int) AS g`, rows); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		group()
	}
	s.Close()
	// The store's backend reports its table statistics when it ends.
	var read int64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var left int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'voucherd' AND datname = current_database()").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of the store still open", left)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relname = 'voucher_live'").Scan(&read); err != nil {
		t.Fatal(err)
	}
	if read >= rows {
		t.Errorf("scans of voucher_live read %d rows: a group's read scanned the whole table", read)
	}
	t.Logf("scans of voucher_live read %d rows", read)
}
