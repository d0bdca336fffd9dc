package serial_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/drivers/serial"
)

// scriptPort is a port whose Reads return a script: bytes at once, or
// nothing after a wait (a read timeout on a quiet line). It says bytes wait
// in the kernel at any time, so the driver's idle timer can never settle a
// gap: only what the reader measured can (as on a host too loaded to run
// that timer in time).
type scriptPort struct {
	mu     sync.Mutex
	script []scriptRead
	done   chan struct{}
}

type scriptRead struct {
	data []byte
	wait time.Duration
}

func (p *scriptPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	if len(p.script) == 0 {
		p.mu.Unlock()
		select {
		case <-p.done:
			return 0, io.ErrClosedPipe
		case <-time.After(50 * time.Millisecond):
			return 0, io.EOF
		}
	}
	r := p.script[0]
	p.script = p.script[1:]
	p.mu.Unlock()
	time.Sleep(r.wait)
	return copy(b, r.data), io.EOF
}

func (p *scriptPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *scriptPort) Close() error                { return nil }
func (p *scriptPort) Queued() (int, error)        { return 1, nil }

// A noise tail with no control byte and no terminator, then a line quiet for
// three read timeouts, then a code: the quiet time spans the empty Reads,
// so the code is not joined to the noise (and dropped with it) even when
// the idle timer never gets to settle the gap.
func TestScanner_QuietAcrossEmptyReads(t *testing.T) {
	quiet := scriptRead{wait: 60 * time.Millisecond}
	port := &scriptPort{done: make(chan struct{}), script: []scriptRead{
		{data: []byte("\xa3\xf7\x8cd\xf7i\x80\xaa")}, quiet, quiet, quiet,
		{data: []byte("]Q1VC1:AFTER-NOISE\r")},
	}}
	sc := serial.New(serial.Config{Device: "script", Profile: serial.HoneywellProfile(), AIM: serial.AIMRequired,
		IdleGap: 100 * time.Millisecond, ReadTimeout: 60 * time.Millisecond,
		Open:   func(string, int, time.Duration) (serial.Port, error) { return port, nil },
		Logger: slog.New(slog.DiscardHandler)})
	if err := sc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { close(port.done); sc.Close() }()
	if got := next(t, sc, 5*time.Second); got.Code != "VC1:AFTER-NOISE" {
		t.Fatalf("got %q, want the code after the noise", got.Code)
	}
}
