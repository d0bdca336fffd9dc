package offline_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/terminal"
)

// termKey is a fixed terminal key so test files are reproducible.
var termKey = ed25519.NewKeyFromSeed([]byte("terminal-key-for-offline-tests!!"))

// day is 2022-10-01, UTC+8; noon is when test redemptions happen.
var (
	day  = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)
	noon = day.Add(12 * time.Hour)
)

func options() offline.Options {
	return offline.Options{TerminalID: "T1", MerchantID: "M1", Key: termKey, MaxSize: 8 << 20,
		Now: func() time.Time { return noon }, Logger: slog.New(slog.DiscardHandler)}
}

// MustOpen opens a ledger in a new temporary directory. On cleanup it
// closes the ledger and runs bbolt's consistency check over the file.
func MustOpen(tb testing.TB, opts ...func(*offline.Options)) (*offline.Ledger, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ledger.db")
	o := options()
	for _, f := range opts {
		f(&o)
	}
	l, err := offline.Open(path, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
		MustCheck(tb, path)
	})
	return l, path
}

// MustCheck runs bbolt's consistency check over the file at path.
func MustCheck(tb testing.TB, path string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatalf("check %s: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			tb.Errorf("check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// reopen closes l and opens the file again.
func reopen(tb testing.TB, l *offline.Ledger, path string) *offline.Ledger {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	l2, err := offline.Open(path, options())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l2.Close() })
	return l2
}

// checkouts numbers the test redemptions' checkouts: each is another sale.
var checkouts atomic.Uint64

// redemption returns a ¥200-off-¥20 retail redemption of voucher id by
// holder, the sale of a checkout of its own.
func redemption(id uint64, holder uint64, at time.Time) *terminal.Redemption {
	from, until := terminal.ClaimDay(day)
	return &terminal.Redemption{
		Kind: terminal.KindRedemption, At: at, CheckoutID: fmt.Sprintf("C%d", checkouts.Add(1)),
		Code: "VC1:EXAMPLECODE",
		Voucher: terminal.Voucher{Version: 1, ID: terminal.VoucherID(id), Holder: terminal.HolderID(holder),
			Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(20),
			ValidFrom: from, ValidUntil: until, Region: 140521, Campaign: 202202, Round: 1},
		Items:    []terminal.Item{{SKU: "rice", Name: "大米 5kg", Category: "grocery", Qty: 4, UnitPriceFen: terminal.Yuan(55)}},
		TotalFen: terminal.Yuan(220), EligibleFen: terminal.Yuan(220), DiscountFen: terminal.Yuan(20),
		PayableFen: terminal.Yuan(200),
	}
}

func mustCommit(tb testing.TB, l *offline.Ledger, r *terminal.Redemption) *terminal.Redemption {
	tb.Helper()
	if err := l.Commit(context.Background(), r); err != nil {
		tb.Fatalf("commit: %v", err)
	}
	return r
}

func TestLedger_Commit(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		l, path := MustOpen(t)
		r := mustCommit(t, l, redemption(1, 100, noon))
		if r.Seq != 1 || r.ID != "T1-0000000001" || r.TerminalID != "T1" || r.MerchantID != "M1" {
			t.Fatalf("got seq %d id %s terminal %s merchant %s", r.Seq, r.ID, r.TerminalID, r.MerchantID)
		}
		if !l.Redeemed(1) || l.Redeemed(2) {
			t.Fatal("index: want voucher 1 live, 2 not")
		}
		got, err := l.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != r.ID || got.DiscountFen != r.DiscountFen || !got.At.Equal(r.At) {
			t.Fatalf("get: got %+v", got)
		}
		n, fen, _ := l.Unsynced(ctx)
		if n != 1 || fen != terminal.Yuan(20) {
			t.Fatalf("unsynced: got %d %s", n, fen)
		}
		l = reopen(t, l, path)
		if !l.Redeemed(1) {
			t.Fatal("after reopen: voucher 1 not live")
		}
		if last, ok := l.LastByHolder(100); !ok || last.RedemptionID != r.ID || !last.At.Equal(noon) {
			t.Fatalf("after reopen: last by holder %+v %v", last, ok)
		}
		if a, err := l.Verify(ctx); err != nil || a.Records != 1 {
			t.Fatalf("verify: %+v %v", a, err)
		}
	})
	t.Run("ErrAlreadyRedeemed", func(t *testing.T) {
		l, _ := MustOpen(t)
		mustCommit(t, l, redemption(1, 100, noon))
		r := redemption(1, 200, noon.Add(time.Hour))
		err := l.Commit(ctx, r)
		if got := terminal.ErrorCode(err); got != terminal.AlreadyRedeemed {
			t.Fatalf("got %v, want already_redeemed", err)
		}
		if r.Seq != 0 || r.ID != "" {
			t.Fatalf("failed commit changed the record: seq %d id %q", r.Seq, r.ID)
		}
		if h, _ := l.HighSeq(ctx); h != 1 {
			t.Fatalf("high seq %d, want 1", h)
		}
	})
	t.Run("ErrRecord", func(t *testing.T) {
		l, _ := MustOpen(t)
		r := redemption(1, 100, noon)
		r.TerminalID = "T2"
		if err := l.Commit(ctx, r); !errors.Is(err, offline.ErrRecord) {
			t.Fatalf("got %v, want ErrRecord", err)
		}
		r = redemption(0, 100, noon) // no voucher id
		if err := l.Commit(ctx, r); !errors.Is(err, offline.ErrRecord) {
			t.Fatalf("got %v, want ErrRecord", err)
		}
		if r.TerminalID != "" || r.MerchantID != "" {
			t.Fatalf("refused record was changed: terminal %q merchant %q", r.TerminalID, r.MerchantID)
		}
		r = redemption(2, 100, noon)
		r.DiscountFen = -1
		if err := l.Commit(ctx, r); !errors.Is(err, offline.ErrRecord) {
			t.Fatalf("negative discount: got %v, want ErrRecord", err)
		}
	})
}

func TestLedger_Refund(t *testing.T) {
	ctx := context.Background()
	t.Run("Partial", func(t *testing.T) {
		l, _ := MustOpen(t)
		orig := mustCommit(t, l, redemption(1, 100, noon))
		ref := mustCommit(t, l, refund(orig, false))
		if !l.Redeemed(1) {
			t.Fatal("a partial refund returned the voucher")
		}
		got, err := l.Refunds(ctx, orig.ID)
		if err != nil || len(got) != 1 || got[0].ID != ref.ID || got[0].RefundOf != orig.ID {
			t.Fatalf("refunds: got %v %v", got, err)
		}
		n, fen, _ := l.Unsynced(ctx)
		if n != 2 || fen != terminal.Yuan(20) {
			t.Fatalf("unsynced: got %d %s, want 2 ¥20.00", n, fen)
		}
	})
	t.Run("VoucherReturned", func(t *testing.T) {
		l, path := MustOpen(t)
		orig := mustCommit(t, l, redemption(1, 100, noon))
		mustCommit(t, l, refund(orig, true))
		if l.Redeemed(1) {
			t.Fatal("voucher still live after a refund that returned it")
		}
		l = reopen(t, l, path)
		if l.Redeemed(1) {
			t.Fatal("after reopen: voucher live again")
		}
		again := mustCommit(t, l, redemption(1, 100, noon.Add(time.Hour)))
		if !l.Redeemed(1) || again.Seq != 3 {
			t.Fatalf("redeem again: live %v seq %d", l.Redeemed(1), again.Seq)
		}
		if err := l.Commit(ctx, refund(orig, true)); !errors.Is(err, terminal.ErrRefund) {
			t.Fatalf("second return of the voucher: got %v, want ErrRefund", err)
		}
	})
	t.Run("ErrRefund", func(t *testing.T) {
		l, _ := MustOpen(t)
		orig := mustCommit(t, l, redemption(1, 100, noon))
		ref := mustCommit(t, l, refund(orig, false))
		for _, of := range []string{"T1-0000000009", "T2-0000000001", "T1-1", "x", ref.ID} {
			r := refund(orig, false)
			r.RefundOf = of
			if err := l.Commit(ctx, r); !errors.Is(err, terminal.ErrRefund) {
				t.Errorf("refund of %q: got %v, want ErrRefund", of, err)
			}
		}
		if _, err := l.Refunds(ctx, "nope"); !errors.Is(err, terminal.ErrNotFound) {
			t.Errorf("refunds of an unknown id: got %v, want ErrNotFound", err)
		}
		if _, err := l.Get(ctx, "T1-0000000009"); !errors.Is(err, terminal.ErrNotFound) {
			t.Errorf("get of an unknown id: got %v, want ErrNotFound", err)
		}
	})
}

// refund returns a refund record of one line of orig.
func refund(orig *terminal.Redemption, returned bool) *terminal.Redemption {
	return &terminal.Redemption{Kind: terminal.KindRefund, At: orig.At.Add(time.Minute), CheckoutID: orig.CheckoutID,
		Code: orig.Code, Voucher: orig.Voucher, Items: []terminal.Item{{SKU: "rice", Qty: 1, UnitPriceFen: terminal.Yuan(55)}},
		TotalFen: terminal.Yuan(55), RefundOf: orig.ID, RefundFen: terminal.Yuan(50), VoucherShareFen: terminal.Yuan(5),
		VoucherReturned: returned}
}

func TestLedger_Day(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	late := day.Add(24*time.Hour - time.Second) // 23:59:59 UTC+8
	mustCommit(t, l, redemption(1, 1, noon))
	mustCommit(t, l, redemption(2, 2, late))
	mustCommit(t, l, redemption(3, 3, late.Add(2*time.Second))) // next day
	mustCommit(t, l, redemption(4, 4, late.UTC()))              // same instant in UTC
	if err := l.Ack(ctx, 4, []terminal.Outcome{{Seq: 2, Result: terminal.Conflict, Detail: "redeemed by T2-0000000001"}}); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, l, path)
	got, err := l.Day(ctx, day.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, r := range got {
		ids = append(ids, r.Seq)
	}
	if want := []uint64{1, 2, 4}; !slices.Equal(ids, want) {
		t.Fatalf("day: got seqs %v, want %v", ids, want)
	}
	es, err := l.DayEntries(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Sync != terminal.Accepted || es[1].Sync != terminal.Conflict || es[1].Detail == "" {
		t.Fatalf("sync states: got %+v %+v", es[0], es[1])
	}
	next, _ := l.Day(ctx, day.AddDate(0, 0, 1))
	if len(next) != 1 || next[0].Seq != 3 {
		t.Fatalf("next day: got %v", next)
	}
	if empty, err := l.Day(ctx, day.AddDate(0, 0, 7)); err != nil || len(empty) != 0 {
		t.Fatalf("empty day: got %v %v", empty, err)
	}
}

func TestLedger_History(t *testing.T) {
	l, path := MustOpen(t)
	mustCommit(t, l, redemption(1, 100, noon))
	mustCommit(t, l, redemption(2, 200, noon.Add(time.Minute)))
	mustCommit(t, l, redemption(3, 100, noon.Add(-time.Hour))) // clock set back: not the latest
	check := func(when string) {
		t.Helper()
		if r, ok := l.LastByHolder(100); !ok || r.RedemptionID != "T1-0000000001" || r.VoucherID != 1 || r.SpendFen != terminal.Yuan(200) {
			t.Errorf("%s: last by holder 100: got %+v %v", when, r, ok)
		}
		if r, ok := l.LastOnLane(); !ok || r.RedemptionID != "T1-0000000002" || !r.At.Equal(noon.Add(time.Minute)) {
			t.Errorf("%s: last on lane: got %+v %v", when, r, ok)
		}
		if _, ok := l.LastByHolder(300); ok {
			t.Errorf("%s: holder 300 has a redemption", when)
		}
		if !l.HighWater().Equal(noon.Add(time.Minute)) {
			t.Errorf("%s: high water %v", when, l.HighWater())
		}
	}
	check("after commit")
	l = reopen(t, l, path)
	check("after reopen")
}

func TestLedger_CommitMany(t *testing.T) {
	ctx := context.Background()
	l, path := MustOpen(t)
	orig := mustCommit(t, l, redemption(1, 100, noon))
	// In one transaction: the voucher is returned, then redeemed again.
	again := redemption(1, 100, noon.Add(time.Hour))
	if err := l.CommitMany(ctx, []*terminal.Redemption{refund(orig, true), again}); err != nil {
		t.Fatal(err)
	}
	if !l.Redeemed(1) || again.Seq != 3 {
		t.Fatalf("after return and redeem again: live %v seq %d", l.Redeemed(1), again.Seq)
	}
	// All or nothing: the second record is refused, so the first is not written.
	first, dup := redemption(2, 200, noon), redemption(1, 300, noon)
	if err := l.CommitMany(ctx, []*terminal.Redemption{first, dup}); terminal.ErrorCode(err) != terminal.AlreadyRedeemed {
		t.Fatalf("got %v, want already_redeemed", err)
	}
	if l.Redeemed(2) || first.Seq != 0 {
		t.Fatalf("a refused batch left voucher 2 live (%v) or seq %d", l.Redeemed(2), first.Seq)
	}
	l = reopen(t, l, path)
	if !l.Redeemed(1) || l.Redeemed(2) {
		t.Fatal("after reopen: want voucher 1 live, 2 not")
	}
	if a, err := l.Verify(ctx); err != nil || a.Records != 3 {
		t.Fatalf("verify: %+v %v", a, err)
	}
}

// TestLedger_CommitSameSale: committing a checkout's sale again (a retry
// after an answer was lost or unknown) answers with the record already
// committed, writes nothing, and never makes a second sale.
func TestLedger_CommitSameSale(t *testing.T) {
	ctx := context.Background()
	l, _ := MustOpen(t)
	first := mustCommit(t, l, redemption(1, 1, noon))
	again := redemption(1, 1, noon.Add(time.Minute))
	again.CheckoutID = first.CheckoutID
	if err := l.Commit(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.At.Equal(first.At) {
		t.Fatalf("retry answered %s at %v, want %s at %v", again.ID, again.At, first.ID, first.At)
	}
	if h, _ := l.HighSeq(ctx); h != 1 {
		t.Fatalf("high seq %d after a retry, want 1", h)
	}
	other := redemption(1, 1, noon) // another checkout, same voucher
	if err := l.Commit(ctx, other); terminal.ErrorCode(err) != terminal.AlreadyRedeemed {
		t.Fatalf("another sale of the voucher: got %v, want already_redeemed", err)
	}
	r, err := l.ByCheckout(ctx, first.CheckoutID)
	if err == nil || !errors.Is(err, terminal.ErrNotFound) {
		t.Fatalf("test checkout ids are not the lane's: got %v %v", r, err)
	}
	// A lane's checkout id carries its opening time: the record is found by its day.
	sale := redemption(2, 2, noon.Add(13*time.Hour)) // completed after midnight
	sale.CheckoutID = "CO20221001235900a1b2c3d4"
	mustCommit(t, l, sale)
	if r, err := l.ByCheckout(ctx, sale.CheckoutID); err != nil || r.ID != sale.ID {
		t.Fatalf("by checkout: %v %v, want %s", r, err, sale.ID)
	}
	if _, err := l.ByCheckout(ctx, "CO20221001235900a1b2c3d5"); !errors.Is(err, terminal.ErrNotFound) {
		t.Fatalf("a checkout with no sale: got %v, want ErrNotFound", err)
	}
}
