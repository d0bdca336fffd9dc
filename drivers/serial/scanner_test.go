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
			gap := 150 * time.Millisecond
			sc, _ := openScanner(t, sim, serial.Config{Profile: tc.drv, Prefix: tc.prefix, IdleGap: gap})
			for i := range 3 {
				got := scanWhole(t, sim, sc, gap, func() string { return voucherCode(r, 150+i*50) })
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

// Line noise followed by a code with no gap between them: the framer finds
// the code's own marker (AIM identifier or prefix) after the noise, so the
// code reads, once, and nothing else does.
func TestScanner_NoiseThenCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sim    firmwaresim.Profile
		drv    serial.Profile
		aim    serial.AIMMode
		prefix string
	}{
		{"HoneywellAIM", firmwaresim.Honeywell(), serial.HoneywellProfile(), serial.AIMRequired, ""},
		{"DatalogicPrefix", firmwaresim.Datalogic(), serial.DatalogicProfile(), serial.AIMAuto, "DL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(11, uint64(len(tc.name))))
			sim := startSim(t, firmwaresim.Config{Profile: tc.sim, Baud: 115200,
				AIM: tc.aim == serial.AIMRequired, Prefix: tc.prefix})
			sc, _ := openScanner(t, sim, serial.Config{Profile: tc.drv, AIM: tc.aim, Prefix: tc.prefix})
			suffix, err := firmwaresim.SuffixBytes(sim.Config().Suffix)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				code := voucherCode(r, 30+i)
				line := noise(r, 8+r.IntN(40))
				line = append(line, tc.prefix...)
				if tc.aim == serial.AIMRequired {
					line = append(line, "]Q1"...)
				}
				line = append(append(line, code...), suffix...)
				if err := sim.SendRaw(line); err != nil {
					t.Fatal(err)
				}
				if got := next(t, sc, 5*time.Second); got.Code != code {
					t.Fatalf("round %d: got %q, want %q after noise %q", i, got.Code, code, line)
				}
			}
			none(t, sc, 100*time.Millisecond)
		})
	}
}

// noise returns n bytes of line noise: control bytes, high bytes, and
// printable runs with pieces of markers in them (']', "]Q", "D"), but never
// a whole AIM identifier or the prefix "DL".
func noise(r *rand.Rand, n int) []byte {
	b := []byte{0x00} // starts with a control byte, so it is noise at once
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			b = append(b, byte(r.IntN(0x20)))
		case 1:
			b = append(b, byte(0x80+r.IntN(0x80)))
		case 2:
			b = append(b, []string{"]", "]Q", "D", "]q-", "A7"}[r.IntN(5)]...)
		default:
			b = append(b, byte('a'+r.IntN(26)))
		}
	}
	for i := 0; i+2 < len(b); i++ {
		if b[i] == ']' && isAlpha(b[i+1]) && (isAlpha(b[i+2]) || '0' <= b[i+2] && b[i+2] <= '9') {
			b[i+2] = 0x01 // spoil a whole identifier the dice made
		}
	}
	return b
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
