package stack_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// BenchmarkScanToDecision measures, for each scan, the time from the code's
// last byte leaving the simulated scanner (on a pty, at 115200 baud) to the
// verdict arriving on the agent's /api/v1/events websocket: the serial
// driver's framing, the rules, the online claim with the real hub, the
// event's JSON and the websocket. The baseline, measured in the same run, is
// the events stream alone (a lane event published by the agent to the same
// websocket). Run it with -benchtime=1000x for the acceptance figure.
//
// "lane" is the lane's own path, the server out of reach (the decision the
// cashier gets when the network is down or slow: driver, rules, ledger
// history, offline limits, events). "online" adds the online claim with the
// hub in the same process over loopback, which includes the hub's durable
// (fsync'd) hold of the voucher: a real server adds the network's round trip
// on top, so that figure is informative, not the lane's.
func BenchmarkScanToDecision(b *testing.B) {
	b.Run("lane", func(b *testing.B) { benchScan(b, false) })
	b.Run("online", func(b *testing.B) { benchScan(b, true) })
}

func benchScan(b *testing.B, online bool) {
	s := startStack(b, "T1")
	ctx := context.Background()
	t := s.Terminals[0]
	if !online {
		t.Net.Down()
		if err := t.WaitOffline(ctx, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	_, until := terminal.ClaimDay(time.Now())
	codes, err := s.Hub.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: 20000, OffFen: 4000, Holder: 0xBE,
		From: terminal.Day(time.Now()).Add(-24 * time.Hour), Until: until.Add(24 * time.Hour), N: b.N})
	if err != nil {
		b.Fatal(err)
	}
	w, err := t.Watch()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	baseline := eventsBaseline(b, t, w)
	items := []terminal.Item{{SKU: "rice", Name: "rice", Category: "grocery", Qty: 2, UnitPriceFen: 10000}}
	lat := make([]time.Duration, 0, b.N)
	var driver, lane []time.Duration // last byte → framed; framed → on the websocket
	claimed := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		co, err := t.Agent.Lane().Open(ctx, items)
		if err != nil {
			b.Fatal(err)
		}
		last, err := t.Sim.ScanTimed(codes[i])
		if err != nil {
			b.Fatal(err)
		}
		ev, err := w.Verdict(5 * time.Second)
		got := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if ev.Kind != terminal.EventApproved {
			b.Fatalf("scan %d: %s %v", i, ev.Kind, ev.Decline)
		}
		if ev.Online {
			claimed++
		}
		lat = append(lat, got.Sub(last))
		driver = append(driver, ev.ScannedAt.Sub(last))
		lane = append(lane, got.Sub(ev.ScannedAt))
		if _, err := t.Agent.Lane().Cancel(ctx, co.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.ReportMetric(ms(p50), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
	b.ReportMetric(ms(baseline), "baseline_p50_ms")
	b.ReportMetric(ms(percentile(driver, 99)), "driver_p99_ms")
	b.ReportMetric(ms(percentile(lane, 99)), "decide_p99_ms")
	b.ReportMetric(float64(p50)/float64(baseline), "p50/baseline")
	b.ReportMetric(float64(claimed)/float64(b.N), "online_ratio")
}

// eventsBaseline is the median time for a lane event published by the
// agent to reach the websocket reader.
func eventsBaseline(b *testing.B, t *stack.Terminal, w *stack.Watcher) time.Duration {
	var lat []time.Duration
	for range 200 {
		start := time.Now()
		t.Agent.Server().OnLaneEvent(terminal.LaneEvent{Kind: terminal.EventDeclined, At: start,
			Decline: terminal.Errorf(terminal.NoOpenCheckout, "")})
		if _, err := w.Verdict(5 * time.Second); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	return percentile(lat, 50)
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
