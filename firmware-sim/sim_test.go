package firmwaresim_test

import (
	"context"
	"errors"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tarm "github.com/tarm/serial"

	"github.com/voucherpos/voucherpos/drivers/qrimage"
	firmwaresim "github.com/voucherpos/voucherpos/firmware-sim"
)

func TestSim_PlugUnplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "scanner")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := firmwaresim.Start(ctx, firmwaresim.Config{Link: link})
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(link)
	if err != nil || target != sim.Device() || !strings.HasPrefix(target, "/dev/pts/") {
		t.Fatalf("link -> %q (%v), device %q", target, err, sim.Device())
	}
	if err := sim.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("link still there after unplug: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pts node still there after unplug: %v", err)
	}
	if err := sim.Scan("VC1:X"); !errors.Is(err, firmwaresim.ErrUnplugged) {
		t.Fatalf("scan unplugged: %v", err)
	}
	if err := sim.Plug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Readlink(link); err != nil || !sim.Plugged() {
		t.Fatalf("link after plug: %v", err)
	}
	cancel() // the context ends the simulator
	deadline := time.Now().Add(5 * time.Second)
	for sim.Plugged() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("link left after the context ended: %v", err)
	}
	if err := sim.Plug(); !errors.Is(err, firmwaresim.ErrClosed) {
		t.Fatalf("plug after close: %v", err)
	}
}

// openHost starts a simulator and opens its line at baud, as the host does.
func openHost(t *testing.T, cfg firmwaresim.Config, baud int) (*firmwaresim.Sim, *tarm.Port) {
	t.Helper()
	sim, err := firmwaresim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	p, err := tarm.OpenPort(&tarm.Config{Name: sim.Path(), Baud: baud, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return sim, p
}

// readN reads from p until n bytes came or 2 s passed, and returns them and
// the number of reads that brought bytes.
func readN(p *tarm.Port, n int) (got []byte, reads int) {
	for deadline := time.Now().Add(2 * time.Second); len(got) < n && time.Now().Before(deadline); {
		b := make([]byte, n-len(got))
		k, _ := p.Read(b)
		if k > 0 {
			reads++
		}
		got = append(got, b[:k]...)
	}
	return got, reads
}

func TestSim_Pacing(t *testing.T) {
	sim, p := openHost(t, firmwaresim.Config{Profile: firmwaresim.Zebra()}, 9600)
	code := strings.Repeat("A", 96) // 96 bytes at 9600 baud: 100 ms on the line
	began := time.Now()
	if err := sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	got, reads := readN(p, len(code))
	if string(got) != code {
		t.Fatalf("got %q", got)
	}
	// Paced at the baud, to within the 1 ms pacing clock.
	if took < 98*time.Millisecond {
		t.Fatalf("96 bytes took %v; want about 100 ms", took)
	}
	t.Logf("96 bytes at 9600 baud: %v, %d reads", took, reads)
}

func TestSim_ImageNoRead(t *testing.T) {
	sim, p := openHost(t, firmwaresim.Config{Profile: firmwaresim.Datalogic(), Baud: 115200}, 115200)
	blank := filepath.Join(t.TempDir(), "blank.png")
	f, _ := os.Create(blank)
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := sim.Image(blank); !errors.Is(err, firmwaresim.ErrNoRead) {
		t.Fatalf("blank image: %v", err)
	}
	want := "%%NoRead\r"
	if got, _ := readN(p, len(want)); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	text, err := sim.Image(filepath.Join("..", "drivers", "qrimage", "testdata", "voucher", "scaled2x.png"))
	if err != nil || !strings.HasPrefix(text, "VC1:") {
		t.Fatalf("image: %q, %v", text, err)
	}
	if got, _ := readN(p, len(text)+1); string(got) != text+"\r" {
		t.Fatalf("got %q, want the code", got)
	}
	// Two vouchers in one picture: neither is sent, the scanner reports a
	// no-read and the operator is told why.
	two := image.NewGray(image.Rect(0, 0, 640, 320))
	for i := range two.Pix {
		two.Pix[i] = 255
	}
	for i, code := range []string{"VC1:FIRST-VOUCHER", "VC1:SECOND-VOUCHER"} {
		sym, err := qrimage.Encode(code, 280)
		if err != nil {
			t.Fatal(err)
		}
		draw.Draw(two, sym.Bounds().Add(image.Pt(20+i*320, 20)), sym, sym.Bounds().Min, draw.Src)
	}
	both := filepath.Join(t.TempDir(), "two.png")
	f, _ = os.Create(both)
	if err := png.Encode(f, two); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := sim.Image(both); !errors.Is(err, firmwaresim.ErrSeveralCodes) || !strings.Contains(err.Error(), "一次只扫一张") {
		t.Fatalf("two vouchers: %v, want ErrSeveralCodes", err)
	}
	if got, _ := readN(p, len(want)); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
