package serial_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/terminal"
)

// voucherCode returns a voucher-like code: "VC1:" and n characters of the
// Base45 alphabet.
func voucherCode(r *rand.Rand, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	var b strings.Builder
	b.WriteString("VC1:")
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// testLogger logs warnings (dropped frames, disconnects) to the test log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startSim starts a simulator with its link in a temporary directory.
func startSim(tb testing.TB, cfg firmwaresim.Config) *firmwaresim.Sim {
	tb.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(tb.TempDir(), "scanner")
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	sim, err := firmwaresim.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start simulator: %v", err)
	}
	tb.Cleanup(func() { _ = sim.Close() })
	return sim
}

// states records the connection changes a scanner reports.
type states struct {
	mu  sync.Mutex
	got []terminal.ScannerState
	ch  chan terminal.ScannerState
}

func newStates() *states { return &states{ch: make(chan terminal.ScannerState, 256)} }

func (s *states) record(st terminal.ScannerState) {
	s.mu.Lock()
	s.got = append(s.got, st)
	s.mu.Unlock()
	select {
	case s.ch <- st:
	default:
	}
}

// wait waits for state want.
func (s *states) wait(tb testing.TB, want terminal.ScannerState) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case st := <-s.ch:
			if st == want {
				return
			}
		case <-deadline:
			tb.Fatalf("scanner did not become %s", want)
		}
	}
}

// openScanner opens a driver on the simulator's link and waits until it is
// connected.
func openScanner(tb testing.TB, sim *firmwaresim.Sim, cfg serial.Config) (*serial.Scanner, *states) {
	tb.Helper()
	st := newStates()
	cfg.Device = sim.Path()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	cfg.OnState = st.record
	if cfg.Baud == 0 {
		cfg.Baud = sim.Config().Baud
	}
	sc := serial.New(cfg)
	if err := sc.Open(context.Background()); err != nil {
		tb.Fatalf("open scanner: %v", err)
	}
	tb.Cleanup(func() { _ = sc.Close() })
	st.wait(tb, terminal.ScannerConnected)
	return sc, st
}

// next waits for the next scan.
func next(tb testing.TB, sc *serial.Scanner, timeout time.Duration) terminal.Scan {
	tb.Helper()
	select {
	case s, ok := <-sc.Scans():
		if !ok {
			tb.Fatal("scans closed")
		}
		return s
	case <-time.After(timeout):
		tb.Fatal("no scan")
	}
	return terminal.Scan{}
}

// none checks that no scan comes within d.
func none(tb testing.TB, sc *serial.Scanner, d time.Duration) {
	tb.Helper()
	select {
	case s := <-sc.Scans():
		tb.Fatalf("unexpected scan %+v", s)
	case <-time.After(d):
	}
}

func mustScan(tb testing.TB, sim *firmwaresim.Sim, text string) {
	tb.Helper()
	if err := sim.Scan(text); err != nil {
		tb.Fatalf("sim scan: %v", err)
	}
}

// scanWhole sends the code make returns and waits for it. Without a suffix
// a pause on the line as long as the idle gap is a frame boundary, and a
// simulator stalled by a loaded machine can make one a real scanner never
// would: such a round is void, so its scans are drained and the round is
// sent again with a fresh code (a repeat would be taken for a reread). With
// a suffix the first round counts, pause or not.
func scanWhole(tb testing.TB, sim *firmwaresim.Sim, sc *serial.Scanner, gap time.Duration, newCode func() string) terminal.Scan {
	tb.Helper()
	noSuffix := strings.EqualFold(sim.Config().Suffix, "none")
	for try := 0; ; try++ {
		code := newCode()
		mustScan(tb, sim, code)
		if p := sim.LastPause(); noSuffix && p >= gap*8/10 {
			if try == 4 {
				tb.Fatalf("the simulator paused inside 5 codes in a row (last %v)", p)
			}
			tb.Logf("simulator paused %v inside the code: round void", p)
			drain(sc, settle)
			continue
		}
		if !noSuffix {
			got := next(tb, sc, 5*time.Second)
			if got.Code != code {
				tb.Fatalf("got %q, want %q", got.Code, code)
			}
			return got
		}
		got, ok := nextWithin(sc, 5*time.Second)
		if !ok || cutShort(got.Code, code) {
			// Cut where neither piece is a code (its AIM identifier alone,
			// then the rest without one), nothing comes.
			if try == 4 {
				tb.Fatalf("5 codes in a row reached the driver in pieces (last %q of %q)", got.Code, code)
			}
			tb.Logf("the code reached the driver in pieces (%q of %d bytes came, then a quiet gap): round void", got.Code, len(code))
			drain(sc, settle)
			continue
		}
		if got.Code != code {
			tb.Fatalf("got %q, want %q", got.Code, code)
		}
		return got
	}
}

// cutShort reports whether got is the head of code, cut short: what a
// driver without a suffix delivers when the line goes quiet inside a code.
// On a loaded host that happens with no pause on the line at all: a pty's
// delivery of written bytes to its reader can stall for longer than the
// idle gap (seen here with two busy loops on two cores: bytes the simulator
// wrote 8 to 90 ms after the last one the driver got were neither read nor
// queued (TIOCINQ 0) when the gap was settled), and no reader can tell that
// from a pause on the line. Only the head is ever delivered; the rest, which
// would need the quiet gap to be a code, is not a code of its own (without
// its AIM identifier, or a frame too short to pass).
func cutShort(got, code string) bool {
	return got != "" && len(got) < len(code) && strings.HasPrefix(code, got)
}

// settle is how long a test lets the line stay quiet after a void round
// before the next code, so that no piece of the voided one comes late: far
// longer than the stalls of a loaded host seen (about half a second).
const settle = time.Second

// nextWithin returns the next scan, or false if none comes within timeout.
func nextWithin(sc *serial.Scanner, timeout time.Duration) (terminal.Scan, bool) {
	select {
	case s, ok := <-sc.Scans():
		return s, ok
	case <-time.After(timeout):
		return terminal.Scan{}, false
	}
}

// drained returns the scans that come until none has come for d.
func drained(sc *serial.Scanner, d time.Duration) []terminal.Scan {
	var out []terminal.Scan
	for {
		select {
		case s := <-sc.Scans():
			out = append(out, s)
		case <-time.After(d):
			return out
		}
	}
}

// drain discards scans until none has come for d.
func drain(sc *serial.Scanner, d time.Duration) {
	for {
		select {
		case <-sc.Scans():
		case <-time.After(d):
			return
		}
	}
}
