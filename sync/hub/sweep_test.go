package hub_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// A holder memo goes once no record the server can still receive (up to
// 72 hours after its time) is within the split-bill window of its newest
// redemption, and not before: swept a chunk at a time, each memo once; on
// either store.
func TestHub_SweepMemos(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		testSweepMemos(t, func(opts hub.Options) (testHub, func() hub.Store) {
			h, dir := MustOpen(t, opts)
			return withTerminals(t, h, dir, terminal.Yuan(200), terminal.Yuan(40), 0, "T1", "T2"), func() hub.Store {
				st, err := boltstore.Open(dir, boltstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		testSweepMemos(t, func(opts hub.Options) (testHub, func() hub.Store) {
			url, pgOpts := pgtest.DB(t), pgstore.Options{KeyFile: filepath.Join(t.TempDir(), "issuing.key")}
			ctx := context.Background()
			if _, err := pgstore.Migrate(ctx, url, pgOpts); err != nil {
				t.Fatal(err)
			}
			open := func() hub.Store {
				st, err := pgstore.Open(ctx, url, pgOpts)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			opts.Create, opts.Logf = true, t.Logf
			h, err := hub.New(open(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			return withTerminals(t, h, "", terminal.Yuan(200), terminal.Yuan(40), 0, "T1", "T2"), open
		})
	})
}

// testSweepMemos runs the sweep's test on a hub start opens with merchant
// M1 and terminals T1 and T2; the function start returns opens the hub's
// store again once the hub is closed.
func testSweepMemos(t *testing.T, start func(hub.Options) (testHub, func() hub.Store)) {
	hub.SetSweepChunk(t, 2) // three holder memos: two chunks, the last short
	var clock atomic.Int64
	clock.Store(noon.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).In(terminal.Zone) }
	th, reopen := start(hub.Options{Now: now})
	ctx := context.Background()
	from, until := terminal.ClaimDay(day)
	var codes []string
	for _, holder := range []terminal.HolderID{0xA, 0xB, 0xC} {
		c, err := th.h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
			Holder: holder, From: from, Until: until, N: 2})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c...)
	}
	sale := func(code string, at time.Time) *terminal.Redemption {
		v, _ := terminal.ParseCode(code)
		return &terminal.Redemption{Kind: terminal.KindRedemption, At: at, Code: code, Voucher: v,
			Items:    []terminal.Item{{SKU: "a", Qty: 1, UnitPriceFen: 26000}},
			TotalFen: 26000, EligibleFen: 26000, DiscountFen: 4000, PayableFen: 22000}
	}
	// Both terminals connect at 11:00; on T1 holders A and C redeem at
	// noon and B at 14:00, sent then.
	clock.Store(noon.Add(-time.Hour).UnixNano())
	t1, _ := dialRaw(t, th.srv, th.creds[0])
	t2, _ := dialRaw(t, th.srv, th.creds[1])
	clock.Store(noon.Add(2 * time.Hour).UnixNano())
	ack, _ := t1.send([32]byte{}, 1, sale(codes[0], noon), sale(codes[4], noon), sale(codes[2], noon.Add(2*time.Hour)))
	for i, o := range ack.Outcomes {
		if o.Result != terminal.Accepted {
			t.Fatalf("sale %d: %+v", i+1, o)
		}
	}

	// 72 hours on, a record made at 12:10 on the day may still arrive (from
	// T2, offline since): it is a split bill of holder A's, and A's memo stays.
	clock.Store(noon.Add(72 * time.Hour).UnixNano())
	if n, err := th.h.SweepMemos(ctx); err != nil || n != 0 {
		t.Fatalf("sweep at 72 h: %d dropped, %v; want none", n, err)
	}
	ack, _ = t2.send([32]byte{}, 1, sale(codes[1], noon.Add(10*time.Minute)))
	if o := ack.Outcomes[0]; o.Result != terminal.Conflict || o.Code != terminal.SplitBill {
		t.Fatalf("holder A's second sale 10 minutes after the first, 72 h late: %+v, want a split_bill conflict", o)
	}
	// Within the split-bill window (30 minutes) of that: still kept.
	clock.Store(noon.Add(72*time.Hour + 29*time.Minute).UnixNano())
	if n, err := th.h.SweepMemos(ctx); err != nil || n != 0 {
		t.Fatalf("sweep at 72 h 29 min: %d dropped, %v; want none", n, err)
	}

	// 72 hours and 31 minutes on, A's and C's redemptions are out of every
	// record's reach; B's (two hours later) is not.
	clock.Store(noon.Add(72*time.Hour + 31*time.Minute).UnixNano())
	if n, err := th.h.SweepMemos(ctx); err != nil || n != 2 {
		t.Fatalf("sweep at 72 h 31 min: %d dropped, %v; want 2", n, err)
	}
	if n, err := th.h.SweepMemos(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d dropped, %v; want none", n, err)
	}
	t1.ws.Close()
	t2.ws.Close()
	if err := th.h.Close(); err != nil {
		t.Fatal(err)
	}
	st := reopen()
	defer st.Close()
	var left []string
	err := st.ScanMemos(ctx, hub.ExpiringMemoPrefix, "", 10, func(k string, _ []byte) error { left = append(left, k); return nil })
	if want := "holder/M1/000000000000000B"; err != nil || len(left) != 1 || left[0] != want {
		t.Fatalf("holder memos left %q, %v; want only %s", left, err, want)
	}
}
