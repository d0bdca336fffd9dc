package serial_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
	"github.com/voucherpos/voucherpos/terminal"
)

func TestScanner_Profiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sim    firmwaresim.Profile
		drv    serial.Profile
		aim    bool
		baud   int
		prefix string
	}{
		{"Honeywell115200", firmwaresim.Honeywell(), serial.HoneywellProfile(), true, 0, ""},
		{"Honeywell9600", firmwaresim.Honeywell(), serial.HoneywellProfile(), false, 9600, ""},
		{"Zebra9600", firmwaresim.Zebra(), serial.ZebraProfile(), false, 0, ""},
		{"Zebra115200AIM", firmwaresim.Zebra(), serial.ZebraProfile(), true, 115200, ""},
		{"Datalogic9600Prefix", firmwaresim.Datalogic(), serial.DatalogicProfile(), false, 0, "DL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			sim := startSim(t, firmwaresim.Config{Profile: tc.sim, Baud: tc.baud, AIM: tc.aim, Prefix: tc.prefix})
			// No-suffix framing relies on the idle gap; leave room for a
			// simulator stalled by a loaded machine (the default is 50 ms).
			sc, _ := openScanner(t, sim, serial.Config{Profile: tc.drv, Prefix: tc.prefix, IdleGap: 150 * time.Millisecond})
			for i := range 3 {
				code := voucherCode(r, 150+i*50)
				mustScan(t, sim, code)
				got := next(t, sc, 5*time.Second)
				if got.Code != code {
					t.Fatalf("got %q, want %q", got.Code, code)
				}
				wantSym := ""
				if tc.aim {
					wantSym = "]Q1"
				}
				if got.Symbology != wantSym || got.Source != sim.Path() {
					t.Fatalf("got symbology %q source %q", got.Symbology, got.Source)
				}
			}
			if sc.State() != terminal.ScannerConnected {
				t.Fatalf("state %s", sc.State())
			}
		})
	}
}

// The idle gap is a bound on delivery: the line must be quiet for nine
// tenths of it, and the rest is the driver's budget to confirm and deliver.
func TestScanner_IdleGapDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       serial.Config
		gap, want time.Duration
	}{
		{"Zebra no suffix", serial.Config{Device: "/dev/ttyS0", Profile: serial.ZebraProfile()}, 50 * time.Millisecond, 45 * time.Millisecond},
		{"Honeywell CRLF", serial.Config{Device: "/dev/ttyS0", Profile: serial.HoneywellProfile()}, 250 * time.Millisecond, 225 * time.Millisecond},
		{"set by hand", serial.Config{Device: "/dev/ttyS0", Profile: serial.ZebraProfile(), IdleGap: 120 * time.Millisecond}, 120 * time.Millisecond, 108 * time.Millisecond},
	} {
		sc := serial.New(tc.cfg)
		if got := sc.Config().IdleGap; got != tc.gap {
			t.Errorf("%s: IdleGap %v, want %v", tc.name, got, tc.gap)
		}
		if got := sc.QuietTime(); got != tc.want {
			t.Errorf("%s: QuietTime %v, want %v", tc.name, got, tc.want)
		}
	}
}
