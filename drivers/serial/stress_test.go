package serial_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestScanner_TenThousand sends 10,000 codes through the simulator at
// 921,600 baud with bursts of line noise and 20 unplug/replug cycles between
// them, and checks that every code sent while plugged in arrives exactly
// once and that nothing else does.
func TestScanner_TenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const (
		codes   = 10000
		cycles  = 20
		noiseN  = 20 // noise bursts
		idleGap = 100 * time.Millisecond
	)
	r := rand.New(rand.NewPCG(10, 10))
	sim := startSim(t, firmwaresim.Config{Profile: firmwaresim.Honeywell(), Baud: 921600, AIM: true, Seed: 10})
	sc, st := openScanner(t, sim, serial.Config{Profile: serial.HoneywellProfile(), AIM: serial.AIMRequired,
		IdleGap: idleGap, Backoff: serial.Backoff{Base: 2 * time.Millisecond, Cap: 20 * time.Millisecond}})

	var mu sync.Mutex
	got := map[string]int{}
	var extra []string
	received := make(chan struct{}, codes)
	notSent := 0
	go func() {
		for s := range sc.Scans() {
			mu.Lock()
			got[s.Code]++
			if got[s.Code] > 1 {
				extra = append(extra, s.Code)
			}
			mu.Unlock()
			received <- struct{}{}
		}
	}()

	// At most window codes in flight: a cashier's scanner never runs far
	// ahead of the host, and a host that falls behind cannot see the quiet
	// gaps on the line (it reads noise, gap and code back to back).
	const window = 16
	inFlight := func(i, window int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if i-n < window {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("code %d: driver stuck at %d codes", i, n)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	sent := map[string]bool{}
	began := time.Now()
	for i := range codes {
		code := fmt.Sprintf("VC1:%05d%s", i, voucherCode(r, 8)[4:])
		switch {
		case i > 0 && i%(codes/cycles) == 0:
			// The cable is pulled once what was scanned has reached the
			// host, not microseconds after the last byte left.
			inFlight(i, 1)
			if err := sim.Unplug(); err != nil {
				t.Fatal(err)
			}
			st.wait(t, terminal.ScannerDisconnected)
			if err := sim.Scan(code + "X"); !errors.Is(err, firmwaresim.ErrUnplugged) {
				t.Fatalf("scan while unplugged: %v", err)
			}
			notSent++
			if err := sim.Plug(); err != nil {
				t.Fatal(err)
			}
		case i%(codes/noiseN) == 7:
			if err := sim.Garbage(16 + r.IntN(48)); err != nil {
				t.Fatal(err)
			}
			// A noise tail with no terminator is settled when the line goes
			// quiet; leave room for goroutines descheduled under -race.
			time.Sleep(5 * idleGap / 2)
		}
		inFlight(i, window)
		if err := sim.Scan(code); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
		sent[code] = true
	}
	sendTime := time.Since(began)
	timeout := time.After(20 * time.Second)
	for n := 0; n < len(sent); n++ {
		select {
		case <-received:
		case <-timeout:
			n = len(sent)
		}
	}
	none(t, sc, 100*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	var missing, invented []string
	for c := range sent {
		if got[c] == 0 {
			missing = append(missing, c)
		}
	}
	for c := range got {
		if !sent[c] {
			invented = append(invented, c)
		}
	}
	t.Logf("%d codes sent in %v (%d refused while unplugged), %d received, %d cycles, %d noise bursts",
		len(sent), sendTime.Round(time.Millisecond), notSent, len(got), cycles, noiseN)
	if len(missing) > 0 || len(invented) > 0 || len(extra) > 0 {
		t.Fatalf("missing %d %q, invented %d %q, duplicated %d %q",
			len(missing), head(missing), len(invented), head(invented), len(extra), head(extra))
	}
}

// head returns the first few of s, for messages.
func head(s []string) []string { return s[:min(len(s), 5)] }
