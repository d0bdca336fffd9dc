package offline_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// historyUnderTest is a terminal.History with the two ways records reach it.
type historyUnderTest struct {
	terminal.History
	add     func(r *terminal.Redemption)    // a committed redemption (ID set by add)
	release func(orig *terminal.Redemption) // a refund that returned the voucher
}

// TestHistory_Contract runs the same History checks on the ledger and on
// terminal.MemHistory, which the ledger keeps as its mirror.
func TestHistory_Contract(t *testing.T) {
	impls := map[string]func(t *testing.T) historyUnderTest{
		"Ledger": func(t *testing.T) historyUnderTest {
			l, _ := MustOpen(t)
			return historyUnderTest{History: l,
				add:     func(r *terminal.Redemption) { mustCommit(t, l, r) },
				release: func(orig *terminal.Redemption) { mustCommit(t, l, refund(orig, true)) }}
		},
		"MemHistory": func(t *testing.T) historyUnderTest {
			h := terminal.NewMemHistory()
			seq := uint64(0)
			return historyUnderTest{History: h,
				add: func(r *terminal.Redemption) {
					seq++
					r.ID = terminal.RecordID("T1", seq)
					h.Add(terminal.RecentOf(r))
				},
				release: func(orig *terminal.Redemption) { seq++; h.Release(orig.Voucher.ID) }}
		},
	}
	for name, open := range impls {
		t.Run(name, func(t *testing.T) {
			h := open(t)
			if h.Redeemed(1) {
				t.Fatal("empty history: voucher redeemed")
			}
			if _, ok := h.LastOnLane(); ok {
				t.Fatal("empty history: lane has a redemption")
			}
			a := redemption(1, 100, noon)
			h.add(a)
			b := redemption(2, 100, noon.Add(10*time.Minute))
			h.add(b)
			h.add(redemption(3, 300, noon.Add(5*time.Minute)))
			if !h.Redeemed(1) || !h.Redeemed(2) || !h.Redeemed(3) || h.Redeemed(4) {
				t.Fatal("redeemed: want 1, 2, 3 live and 4 not")
			}
			if r, ok := h.LastByHolder(100); !ok || r.VoucherID != 2 || r.RedemptionID != b.ID || !r.At.Equal(b.At) {
				t.Fatalf("last by holder 100: got %+v %v", r, ok)
			}
			if r, ok := h.LastOnLane(); !ok || r.VoucherID != 2 || r.EligibleFen != b.EligibleFen || r.SpendFen != b.Voucher.SpendFen {
				t.Fatalf("last on lane: got %+v %v", r, ok)
			}
			h.release(b)
			if h.Redeemed(2) || !h.Redeemed(1) {
				t.Fatal("after release: want 2 free and 1 live")
			}
			if r, ok := h.LastByHolder(100); !ok || r.VoucherID != 2 {
				t.Fatalf("after release: the split-bill memory went: %+v %v", r, ok)
			}
		})
	}
}

// TestLedger_Concurrent commits, reads, acknowledges and audits from many
// goroutines at once (run it with -race): every voucher is redeemed exactly
// once, sequences have no gap, and the chain verifies.
func TestLedger_Concurrent(t *testing.T) {
	ctx := context.Background()
	l, _ := MustOpen(t)
	const workers, perWorker = 4, 25
	var wg sync.WaitGroup
	wins := make([]int, workers*perWorker+1)
	var mu sync.Mutex
	for w := range workers {
		wg.Go(func() {
			for i := 1; i <= perWorker*workers; i++ {
				if (i+w)%workers != 0 && i%3 != 0 { // every voucher tried by one or two workers
					continue
				}
				err := l.Commit(ctx, redemption(uint64(i), uint64(i), noon))
				switch {
				case err == nil:
					mu.Lock()
					wins[i]++
					mu.Unlock()
				case terminal.ErrorCode(err) != terminal.AlreadyRedeemed:
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			h, _ := l.HighSeq(ctx)
			if p, err := l.Pending(ctx, 0, 1000); err != nil || uint64(len(p)) < h {
				t.Errorf("pending: %d records, high seq %d, %v", len(p), h, err)
				return
			}
			if err := l.Ack(ctx, h/2, nil); err != nil {
				t.Error(err)
				return
			}
			l.Redeemed(terminal.VoucherID(h))
			l.LastOnLane()
			if _, err := l.Verify(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	var total uint64
	for i, n := range wins[1:] {
		if n != 1 {
			t.Errorf("voucher %d redeemed %d times", i+1, n)
		}
		total += uint64(n)
	}
	if h, _ := l.HighSeq(ctx); h != total {
		t.Fatalf("high seq %d, %d commits", h, total)
	}
	if a, err := l.Verify(ctx); err != nil || a.Records != total {
		t.Fatalf("verify: %+v %v", a, err)
	}
}
