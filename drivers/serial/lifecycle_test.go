package serial_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/terminal"
)

func TestScanner_Unplug(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  firmwaresim.Profile
		drv  serial.Profile
	}{
		{"Honeywell", firmwaresim.Honeywell(), serial.HoneywellProfile()},
		{"Zebra", firmwaresim.Zebra(), serial.ZebraProfile()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(2, uint64(len(tc.name))))
			sim := startSim(t, firmwaresim.Config{Profile: tc.sim, Baud: 115200})
			sc, st := openScanner(t, sim, serial.Config{Profile: tc.drv,
				Backoff: serial.Backoff{Base: 5 * time.Millisecond, Cap: 50 * time.Millisecond}})
			for cycle := range 3 {
				if err := sim.Unplug(); err != nil {
					t.Fatal(err)
				}
				st.wait(t, terminal.ScannerDisconnected)
				if err := sc.Beep(context.Background(), terminal.GoodRead); !errors.Is(err, serial.ErrDisconnected) {
					t.Fatalf("beep while unplugged: %v, want ErrDisconnected", err)
				}
				if err := sim.Scan("VC1:LOST"); !errors.Is(err, firmwaresim.ErrUnplugged) {
					t.Fatalf("scan while unplugged: %v", err)
				}
				if err := sim.Plug(); err != nil {
					t.Fatal(err)
				}
				// A code sent before the driver has reopened waits in the
				// line's buffer and is still read.
				code := voucherCode(r, 60+cycle)
				mustScan(t, sim, code)
				pause := sim.LastPause()
				st.wait(t, terminal.ScannerConnected)
				if p := pause; tc.name == "Zebra" && p >= 40*time.Millisecond {
					// Without a suffix the default gap (50 ms) is a frame
					// boundary; a simulator stalled that long inside the
					// code split it, which a real scanner does not do.
					t.Logf("cycle %d: simulator paused %v inside the code", cycle, p)
					drain(sc, settle)
					scanWhole(t, sim, sc, 50*time.Millisecond, func() string { return voucherCode(r, 60+cycle) })
					continue
				}
				got := next(t, sc, 5*time.Second)
				if tc.name == "Zebra" && cutShort(got.Code, code) {
					t.Logf("cycle %d: the code reached the driver in pieces (%d of %d bytes, then a quiet gap)", cycle, len(got.Code), len(code))
					drain(sc, settle)
					scanWhole(t, sim, sc, 50*time.Millisecond, func() string { return voucherCode(r, 60+cycle) })
					continue
				}
				if got.Code != code {
					t.Fatalf("cycle %d: got %q, want %q", cycle, got.Code, code)
				}
			}
		})
	}
}

func TestScanner_UnplugMidFrame(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	sim := startSim(t, firmwaresim.Config{Profile: firmwaresim.Honeywell(), Baud: 9600})
	sc, st := openScanner(t, sim, serial.Config{Profile: serial.HoneywellProfile(),
		Backoff: serial.Backoff{Base: 5 * time.Millisecond, Cap: 50 * time.Millisecond}})
	for cuts, round := 0, 0; cuts < 2; round++ {
		if round == 10 {
			t.Fatalf("the unplug came inside the code in %d of 10 rounds", cuts)
		}
		code := voucherCode(r, 200) // 212 ms on the line at 9600
		errc := make(chan error, 1)
		go func() { errc <- sim.Scan(code) }()
		time.Sleep(60 * time.Millisecond)
		if err := sim.Unplug(); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		if err != nil && !errors.Is(err, firmwaresim.ErrUnplugged) {
			t.Fatalf("scan cut by unplug: %v", err)
		}
		st.wait(t, terminal.ScannerDisconnected)
		if err := sim.Plug(); err != nil {
			t.Fatal(err)
		}
		st.wait(t, terminal.ScannerConnected)
		if err == nil {
			// The test slept far longer than 60 ms (a loaded machine):
			// the code went out whole before the cable was pulled.
			t.Logf("round %d: the code was sent whole before the unplug: round void", round)
			drain(sc, settle)
			continue
		}
		cuts++
		good := voucherCode(r, 40)
		mustScan(t, sim, good)
		if got := next(t, sc, 5*time.Second); got.Code != good {
			t.Fatalf("after replug got %q, want %q (the cut frame must not be joined)", got.Code, good)
		}
	}
	none(t, sc, 100*time.Millisecond)
}

func TestScanner_NoiseAndOverlong(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  firmwaresim.Profile
		drv  serial.Profile
		baud int
	}{
		{"Honeywell115200", firmwaresim.Honeywell(), serial.HoneywellProfile(), 115200},
		{"Zebra9600", firmwaresim.Zebra(), serial.ZebraProfile(), 9600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(4, 4))
			sim := startSim(t, firmwaresim.Config{Profile: tc.sim, Baud: tc.baud, AIM: true})
			// Generous: on a loaded machine the simulator itself can stall
			// for tens of milliseconds, which is a real gap on the line.
			gap := 100 * time.Millisecond
			sc, _ := openScanner(t, sim, serial.Config{Profile: tc.drv, AIM: serial.AIMRequired,
				IdleGap: gap, MaxLen: 300})
			quiet := func() { time.Sleep(3 * gap) }
			for i := range 4 {
				if err := sim.Garbage(20 + 10*i); err != nil {
					t.Fatal(err)
				}
				quiet()
				// An over-long line, terminated or not.
				if err := sim.SendRaw([]byte("]Q1" + strings.Repeat("A", 400) + "\r\n")); err != nil {
					t.Fatal(err)
				}
				quiet()
				if p := sim.LastPause(); p >= gap*8/10 {
					// The simulator stalled inside the line: without a
					// suffix that is a frame boundary, and the part before
					// it was a frame of its own. Only a line that went out
					// whole says anything about the driver.
					t.Logf("simulator paused %v inside the over-long line", p)
					drain(sc, settle)
				} else if tc.baud == 9600 {
					// Without a suffix the host's delivery of the line can
					// stall as well (cutShort): its head may then come as a
					// code of its own, never any other part of it.
					for _, s := range drained(sc, settle) {
						if line := strings.Repeat("A", 400); s.Symbology != "]Q1" || !cutShort(s.Code, line) {
							t.Fatalf("part of an over-long line delivered: %q %q", s.Symbology, s.Code)
						}
						t.Logf("the over-long line reached the driver in pieces: its head (%d bytes) came as a code", len(s.Code))
					}
				}
				scanWhole(t, sim, sc, gap, func() string { return voucherCode(r, 100) })
				quiet()
			}
			none(t, sc, 100*time.Millisecond)
		})
	}
}

func TestScanner_RereadAndNoRead(t *testing.T) {
	t.Parallel()
	var noReads atomic.Int32
	sim := startSim(t, firmwaresim.Config{Profile: firmwaresim.Honeywell(), Duplicates: 1, DuplicateGap: 20 * time.Millisecond})
	sc, _ := openScanner(t, sim, serial.Config{Profile: serial.HoneywellProfile(),
		OnNoRead: func(time.Time) { noReads.Add(1) }})
	mustScan(t, sim, "VC1:TWICE")
	if got := next(t, sc, 5*time.Second); got.Code != "VC1:TWICE" {
		t.Fatalf("got %q", got.Code)
	}
	if err := sim.NoRead(); !errors.Is(err, firmwaresim.ErrNoRead) {
		t.Fatal(err)
	}
	mustScan(t, sim, "VC1:NEXT")
	if got := next(t, sc, 5*time.Second); got.Code != "VC1:NEXT" {
		t.Fatalf("got %q: the reread was delivered", got.Code)
	}
	if noReads.Load() != 1 {
		t.Fatalf("no-reads reported: %d, want 1", noReads.Load())
	}
}

func TestScanner_Commands(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  firmwaresim.Profile
		drv  serial.Profile
	}{
		{"Honeywell", firmwaresim.Honeywell(), serial.HoneywellProfile()},
		{"Zebra", firmwaresim.Zebra(), serial.ZebraProfile()},
		{"Datalogic", firmwaresim.Datalogic(), serial.DatalogicProfile()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []string
			sim := startSim(t, firmwaresim.Config{Profile: tc.sim, Baud: 115200, OnCommand: func(c string) {
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			}})
			var noReads atomic.Int32
			sc, _ := openScanner(t, sim, serial.Config{Profile: tc.drv, OnNoRead: func(time.Time) { noReads.Add(1) }})
			ctx := context.Background()
			sim.Present("VC1:PRESENTED")
			if err := sc.Trigger(ctx, true); err != nil {
				t.Fatal(err)
			}
			if s := next(t, sc, 5*time.Second); s.Code != "VC1:PRESENTED" {
				t.Fatalf("triggered read got %q", s.Code)
			}
			for _, f := range []func() error{
				func() error { return sc.Trigger(ctx, false) },
				func() error { return sc.Beep(ctx, terminal.GoodRead) },
				func() error { return sc.Beep(ctx, terminal.BadRead) },
				func() error { return sc.Trigger(ctx, true) }, // nothing presented: no-read
			} {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"trigger on", "trigger off", "beep good", "beep bad"}
			if tc.name == "Datalogic" {
				want = append(want, "enable") // F disables the scanner; E enables it again
			}
			want = append(want, "trigger on")
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				done := len(got) >= len(want)
				mu.Unlock()
				if done && noReads.Load() == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("scanner got commands %q, want %q", got, want)
			}
			if noReads.Load() != 1 {
				t.Fatalf("no-reads %d, want 1", noReads.Load())
			}
		})
	}
	t.Run("ErrUnsupported", func(t *testing.T) {
		sc := serial.New(serial.Config{Device: "/dev/null", Profile: serial.GenericProfile()})
		if err := sc.Beep(context.Background(), terminal.BadRead); !errors.Is(err, serial.ErrUnsupported) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestScanner_ShutdownWhileBlocked(t *testing.T) {
	sim := startSim(t, firmwaresim.Config{Profile: firmwaresim.Honeywell()})
	before := runtime.NumGoroutine()
	for _, how := range []string{"Close", "Context"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st := newStates()
			sc := serial.New(serial.Config{Device: sim.Path(), Profile: serial.HoneywellProfile(),
				Logger: testLogger(t), OnState: st.record})
			if err := sc.Open(ctx); err != nil {
				t.Fatal(err)
			}
			st.wait(t, terminal.ScannerConnected)
			time.Sleep(150 * time.Millisecond) // the reader is blocked in Read
			began := time.Now()
			if how == "Close" {
				_ = sc.Close()
			} else {
				cancel()
			}
			for range sc.Scans() {
			}
			took := time.Since(began)
			t.Logf("stopped in %v (read timeout 100ms)", took)
			if took > 2*time.Second {
				t.Fatalf("shutdown took %v", took)
			}
			if err := sc.Open(ctx); !errors.Is(err, serial.ErrClosed) && how == "Close" {
				t.Fatalf("Open after Close: %v", err)
			}
			_ = sc.Close()
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestScanner_AbsentDeviceRetries(t *testing.T) {
	t.Parallel()
	link := t.TempDir() + "/scanner"
	st := newStates()
	var opens atomic.Int32
	sc := serial.New(serial.Config{Device: link, Profile: serial.HoneywellProfile(), Logger: testLogger(t),
		OnState: st.record, Backoff: serial.Backoff{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond},
		Open: func(path string, baud int, rt time.Duration) (serial.Port, error) {
			opens.Add(1)
			return serial.OpenTarm(path, baud, rt)
		}})
	if err := sc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	time.Sleep(300 * time.Millisecond)
	// No busy loop: at most one attempt per backoff step (>= 5 ms here, 20 ms at the cap).
	if n := opens.Load(); n < 3 || n > 40 {
		t.Fatalf("%d open attempts in 300 ms", n)
	}
	sim := startSim(t, firmwaresim.Config{Profile: firmwaresim.Honeywell(), Link: link})
	st.wait(t, terminal.ScannerConnected)
	mustScan(t, sim, "VC1:LATE")
	if got := next(t, sc, 5*time.Second); got.Code != "VC1:LATE" {
		t.Fatalf("got %q", got.Code)
	}
	_ = os.Remove(link)
}

func TestScanner_OpenErrors(t *testing.T) {
	for name, cfg := range map[string]serial.Config{
		"NoDevice": {},
		"BadBaud":  {Device: "/dev/null", Baud: 12345},
		"MinMax":   {Device: "/dev/null", MinLen: 10, MaxLen: 5},
	} {
		t.Run(name, func(t *testing.T) {
			if err := serial.New(cfg).Open(context.Background()); !errors.Is(err, serial.ErrBadConfig) {
				t.Fatalf("err %v, want ErrBadConfig", err)
			}
		})
	}
}
