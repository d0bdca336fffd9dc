package client_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkGrowingLedger drains five backlogs of 100,000 redemptions one
// after another into one bbolt hub, each by 100,000 holders new to it, as
// rounds of a programme fill a county's ledger. In "holders-in-order", as
// in BenchmarkDrain, a round's holders have consecutive ids and redeem in
// that order: each round's holder memos are appended after the last. In
// "pseudonymous-holders" the ids are spread over the whole id space, as
// claims make them (terminal.Pseudonym: an HMAC), and redeem in a random
// order: every round's memos land among all the memos stored before. (In
// runs of 100 consecutive ids, a Mint call each: minting each holder's
// voucher alone would take longer than the drains. Real pseudonyms are
// each at a random place, which scatters the memos further.)
//
//	records/s-first, records/s-last   the first and the last round's rate
//	x-first                           last ÷ first
//	write-B/rec-last                  bytes this process wrote to disk per
//	                                  record in the last round (Linux
//	                                  /proc/self/io; -1 elsewhere)
//
// Run it on its own (minutes): go test -run XXX -bench GrowingLedger -benchtime 1x ./sync/client
// $DRAIN_CPUPROFILE names files for a CPU profile of each round's drain
// (a suffix .1 to .5; run one of the two forms with -bench).
func BenchmarkGrowingLedger(b *testing.B) {
	for _, holders := range []string{"holders-in-order", "pseudonymous-holders"} {
		b.Run(holders, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				growLedger(b, holders == "pseudonymous-holders")
			}
		})
	}
}

func growLedger(b *testing.B, scatter bool) {
	const (
		rounds  = 5
		backlog = 100_000
		batch   = 1000
	)
	b.StopTimer()
	ctx := context.Background()
	s := mustServer(b, hub.Options{Logf: func(string, ...any) {}})
	cred := s.merchant("M1", "T1")[0]
	liftOfflineLimit(b, s.hub)
	led := openLedger(b, cred)
	defer led.Close()
	firstSync(b, s.url(), cred, led)
	rng := rand.New(rand.NewPCG(1, 2))
	var first, last float64
	var wrote int64
	for r := 0; r < rounds; r++ {
		from, until := terminal.ClaimDay(day)
		req := hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
			Holder: terminal.HolderID(0xABC + uint64(r)<<32), EachHolder: true, From: from, Until: until, N: backlog}
		var codes []string
		for len(codes) < backlog {
			if scatter { // runs of 100 consecutive ids at random places
				req.Holder, req.N = terminal.HolderID(rng.Uint64()), 100
			}
			c, err := s.hub.Mint(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			codes = append(codes, c...)
		}
		if scatter {
			rng.Shuffle(len(codes), func(i, j int) { codes[i], codes[j] = codes[j], codes[i] })
		}
		commitSales(b, led, codes, batch)
		c := client.New(client.Options{URL: s.url(), Credential: cred, Outbox: led, State: led,
			BatchSize: batch, Logf: func(string, ...any) {}})
		w0 := writeBytes()
		stopProfile := pgtest.CPUProfile(b, "DRAIN_CPUPROFILE", strconv.Itoa(r+1)) // each round's drain alone
		b.StartTimer()
		t0 := time.Now()
		if err := c.Open(); err != nil {
			b.Fatal(err)
		}
		for led.Watermark() < uint64((r+1)*backlog) {
			time.Sleep(2 * time.Millisecond)
		}
		rate := backlog / time.Since(t0).Seconds()
		b.StopTimer()
		stopProfile()
		wrote = writeBytes() - w0
		_ = c.Close()
		b.Logf("round %d: %.0f records/s, %d bytes written a record", r+1, rate, wrote/backlog)
		if r == 0 {
			first = rate
		}
		last = rate
	}
	b.ReportMetric(first, "records/s-first")
	b.ReportMetric(last, "records/s-last")
	b.ReportMetric(last/first, "x-first")
	if wrote < 0 {
		b.ReportMetric(-1, "write-B/rec-last")
	} else {
		b.ReportMetric(float64(wrote)/backlog, "write-B/rec-last")
	}
}

// writeBytes returns the bytes this process has caused to be written to
// disk (Linux: write_bytes of /proc/self/io), or a negative number where
// that cannot be read.
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1 << 40
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1 << 40
}
