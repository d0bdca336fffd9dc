package offline_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
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
		Now: func() time.Time { return noon }}
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

// redemption returns a ¥200-off-¥20 retail redemption of voucher id by holder.
func redemption(id uint64, holder uint64, at time.Time) *terminal.Redemption {
	from, until := terminal.ClaimDay(day)
	return &terminal.Redemption{
		Kind: terminal.KindRedemption, At: at, CheckoutID: "C1",
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
	})
}
