package serial_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
)

// benchLatency measures the time from the last byte of a code leaving the
// simulator to the code reaching the caller on Scans. It reports the mean
// and worst latency beside the code's time on the line.
func benchLatency(b *testing.B, simCfg firmwaresim.Config, drv serial.Config, codeLen int) {
	r := rand.New(rand.NewPCG(20, 20))
	sim := startSim(b, simCfg)
	sc, _ := openScanner(b, sim, drv)
	codes := make([]string, 0, b.N)
	for range b.N {
		codes = append(codes, voucherCode(r, codeLen-4))
	}
	var lat []time.Duration
	splits := 0
	b.ResetTimer()
	for i := range b.N {
		last, err := sim.ScanTimed(codes[i])
		if err != nil {
			b.Fatal(err)
		}
		s := next(b, sc, 5*time.Second)
		if s.Code != codes[i] {
			// Without a suffix, a simulator stalled longer than the idle
			// gap (a loaded machine) really does cut the frame; count it
			// and read on rather than report its latency.
			splits++
			for s.Code != codes[i] && strings.HasPrefix(codes[i], s.Code) {
				s = next(b, sc, 5*time.Second)
			}
			continue
		}
		lat = append(lat, time.Since(last))
	}
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatalf("every frame was cut (%d)", splits)
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	line := time.Duration(codeLen) * sim.ByteTime()
	b.ReportMetric(ms(sum)/float64(len(lat)), "latency-ms")
	b.ReportMetric(ms(slices.Max(lat)), "worst-latency-ms")
	b.ReportMetric(ms(line), "line-ms")
	b.ReportMetric(ms(sc.Config().IdleGap), "idle-gap-ms")
	b.ReportMetric(ms(sc.QuietTime()), "quiet-ms")
	b.ReportMetric(float64(splits), "cut-frames")
}

// BenchmarkLatency_Honeywell115200 is the acceptance figure: a 200-byte code
// at 115200 baud (17.4 ms on the line), framed by its CRLF suffix, must reach
// the caller within 3 ms of its last byte.
func BenchmarkLatency_Honeywell115200(b *testing.B) {
	benchLatency(b, firmwaresim.Config{Profile: firmwaresim.Honeywell(), Baud: 115200},
		serial.Config{Profile: serial.HoneywellProfile()}, 200)
}

// BenchmarkLatency_Zebra9600 is a 200-byte code at 9600 baud with no suffix:
// it is framed by the idle gap, so it must arrive within one gap of its last
// byte (the line must be quiet for quiet-ms, nine tenths of the gap; the rest
// is the driver's budget to confirm the quiet and deliver).
func BenchmarkLatency_Zebra9600(b *testing.B) {
	benchLatency(b, firmwaresim.Config{Profile: firmwaresim.Zebra(), Baud: 9600},
		serial.Config{Profile: serial.ZebraProfile()}, 200)
}
