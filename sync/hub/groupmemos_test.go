package hub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestGroupMemos checks a group commit's memo cache over a real store: a
// memo is read once and written once at flush, a read through the store
// sees a change made before it, a memo written around the cache is read
// afresh, and a memo changed after a flush is written by the next.
func TestGroupMemos(t *testing.T) {
	s, err := boltstore.Open(t.TempDir(), boltstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, terminal.Zone)
	recent := func(n int) terminal.Recent {
		return terminal.Recent{RedemptionID: fmt.Sprintf("T1-%010d", n), VoucherID: terminal.VoucherID(n), Holder: 1, At: at}
	}
	read := func(tx hub.Tx, key string) []terminal.Recent {
		t.Helper()
		b, ok, err := tx.Memo(key)
		if err != nil || !ok {
			t.Fatalf("memo %s: %v %v", key, ok, err)
		}
		var rs []terminal.Recent
		if err := hub.DecodeRecents(b, &rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	keys := make([]string, 7)
	for i := range keys {
		keys[i] = fmt.Sprintf("holder/M1/%d", i)
	}
	err = s.Commit(ctx, nil, func(tx hub.Tx) error {
		g := hub.NewGroupMemos(tx)
		for round := range 2 {
			for i, k := range keys {
				rs, err := g.Recents(k)
				if err != nil {
					return err
				}
				if len(*rs) != round {
					t.Errorf("round %d: memo %s has %d recents", round, k, len(*rs))
				}
				*rs = append(*rs, recent(10*i+round))
				g.Changed(k)
			}
		}
		// A read through the store writes the change first.
		b, ok, err := g.Memo(keys[0])
		if err != nil || !ok {
			t.Fatalf("memo %s: %v %v", keys[0], ok, err)
		}
		var rs []terminal.Recent
		if err := hub.DecodeRecents(b, &rs); err != nil || len(rs) != 2 {
			t.Errorf("memo %s read through: %d recents, %v", keys[0], len(rs), err)
		}
		// A memo written around the cache is read again, not found stale.
		if _, err := g.Recents(keys[1]); err != nil {
			return err
		}
		b, err = hub.EncodeRecents([]terminal.Recent{recent(99)})
		if err != nil {
			return err
		}
		if err := g.PutMemo(keys[1], b); err != nil {
			return err
		}
		got, err := g.Recents(keys[1])
		if err != nil {
			return err
		}
		if len(*got) != 1 || (*got)[0].VoucherID != 99 {
			t.Errorf("memo %s after PutMemo: %+v, want the one written", keys[1], *got)
		}
		if err := g.Flush(); err != nil {
			return err
		}
		// A memo changed after a flush is written by the next.
		again, err := g.Recents(keys[2])
		if err != nil {
			return err
		}
		*again = append(*again, recent(77))
		g.Changed(keys[2])
		return g.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Commit(ctx, nil, func(tx hub.Tx) error {
		for i, k := range keys {
			rs := read(tx, k)
			want := []terminal.VoucherID{terminal.VoucherID(10 * i), terminal.VoucherID(10*i + 1)}
			switch i {
			case 1:
				want = []terminal.VoucherID{99}
			case 2:
				want = append(want, 77)
			}
			if len(rs) != len(want) {
				t.Errorf("memo %s: %+v, want vouchers %v", k, rs, want)
				continue
			}
			for j := range rs {
				if rs[j].VoucherID != want[j] {
					t.Errorf("memo %s: %+v, want vouchers %v", k, rs, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
