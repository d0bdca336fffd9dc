package client_test

import (
	"context"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestChaos is the acceptance test: 5,000 redemptions through two
// terminals while a proxy cuts, resets and stalls the links at random,
// with one server restart and one terminal restart in the middle. The
// server ends with exactly the 5,000 records, each once, and every
// conflict planted (a voucher redeemed on both terminals) is reported.
func TestChaos(t *testing.T) {
	const (
		perLane = 2500
		planted = 50
		chunk   = 10
	)
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	s := mustServer(t, hub.Options{})
	creds := s.merchant("M1", "T1", "T2")
	codes := s.mint(2*perLane - planted)
	codes1 := codes[:perLane]
	codes2 := append(append([]string(nil), codes[perLane:]...), codes1[:planted]...)
	plantedIDs := map[terminal.VoucherID]bool{}
	for _, c := range codes1[:planted] {
		v, _ := terminal.ParseCode(c)
		plantedIDs[v.ID] = true
	}

	p := mustProxy(t, s.addr)
	l1 := mustLane(t, creds[0], p.url(), fastOpts()).firstSync()
	l2 := mustLane(t, creds[1], p.url(), fastOpts()).firstSync()
	stop := make(chan struct{})
	p.chaos(42, 150*time.Millisecond, stop)

	var committed atomic.Int64
	serverRestarted := make(chan struct{})
	var wg gosync.WaitGroup
	run := func(l *lane, codes []string, restartAt int) {
		defer wg.Done()
		for i := 0; i < len(codes); i += chunk {
			if i == restartAt {
				<-serverRestarted // the terminal restarts after the server did
				t.Logf("restarting terminal %s after %d records", l.cred.TerminalID, i)
				l.restart()
			}
			l.commit(codes[i:min(i+chunk, len(codes))], chunk)
			committed.Add(int64(min(chunk, len(codes)-i)))
			time.Sleep(2 * time.Millisecond)
		}
	}
	wg.Add(2)
	go run(l1, codes1, perLane*3/5)
	go run(l2, codes2, -1)

	for committed.Load() < 2*perLane*2/5 {
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("restarting the server after %d records committed", committed.Load())
	s.restart()
	p.setTarget(s.addr)
	close(serverRestarted)
	wg.Wait()
	close(stop)
	waitSynced(t, s, l1, perLane)
	waitSynced(t, s, l2, perLane)
	p.mu.Lock()
	t.Logf("proxy disrupted %d times", p.cuts)
	p.mu.Unlock()

	ctx := context.Background()
	rep, err := s.hub.Report(ctx, day, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Total.Redemptions+rep.Total.Conflicts.Redemptions, 2*perLane; got != want {
		t.Errorf("server holds %d records for the day, want %d", got, want)
	}
	if got, want := rep.Total.Redemptions, 2*perLane-planted; got != want {
		t.Errorf("accepted %d, want %d", got, want)
	}
	if got, want := rep.Total.DiscountFen, terminal.Yuan(40)*terminal.Fen(2*perLane-planted); got != want {
		t.Errorf("discount %s, want %s", got, want)
	}
	seen := map[terminal.VoucherID]int{}
	for _, c := range rep.Conflicts {
		if !plantedIDs[c.Voucher] {
			t.Errorf("conflict on a voucher not planted: %+v", c)
		}
		seen[c.Voucher]++
	}
	if len(seen) != planted || len(rep.Conflicts) != planted {
		t.Errorf("%d conflicts on %d vouchers, want %d on %d", len(rep.Conflicts), len(seen), planted, planted)
	}
	var onTerminals int
	for _, l := range []*lane{l1, l2} {
		c, err := l.ledger.Conflicts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		onTerminals += len(c)
	}
	if onTerminals != planted {
		t.Errorf("terminals keep %d conflicts, want %d", onTerminals, planted)
	}
}
