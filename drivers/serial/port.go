package serial

import (
	"io"
	"os"
	"time"

	tarm "github.com/tarm/serial"
	"golang.org/x/sys/unix"
)

// Port is the serial line as the driver uses it. A *tarm/serial.Port is one;
// tests pass a pseudo-terminal or a pipe. Read must return within the read
// timeout the port was opened with, with (0, io.EOF) or (0, nil) when no byte
// came; a Read that returns nothing at once, again and again, means the
// device is gone.
type Port interface {
	io.Reader
	io.Writer
	io.Closer
}

// OpenFunc opens the serial device at path at baud 8N1 with the given read
// timeout.
type OpenFunc func(path string, baud int, readTimeout time.Duration) (Port, error)

// OpenTarm opens a serial device with github.com/tarm/serial. The read
// timeout is rounded down to tenths of a second (termios VTIME), at least
// one tenth; a timed-out Read returns (0, io.EOF). The port also answers
// how many received bytes wait in the kernel (see queued).
func OpenTarm(path string, baud int, readTimeout time.Duration) (Port, error) {
	p, err := tarm.OpenPort(&tarm.Config{Name: path, Baud: baud, ReadTimeout: readTimeout})
	if err != nil {
		return nil, err
	}
	// tarm keeps its descriptor to itself; a second one on the same tty,
	// never read, asks for the tty's input queue, which both share.
	q, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return p, nil // the driver then trusts a blocked reader alone
	}
	return &tarmPort{Port: p, q: q}, nil
}

// tarmPort is a tarm port with a descriptor for TIOCINQ.
type tarmPort struct {
	*tarm.Port
	q *os.File
}

// Queued returns how many received bytes wait in the kernel to be read.
func (p *tarmPort) Queued() (int, error) {
	raw, err := p.q.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}

// Close closes both descriptors and returns the port's error.
func (p *tarmPort) Close() error {
	err := p.Port.Close()
	_ = p.q.Close() // never read or written: nothing to lose
	return err
}

// queued reports whether port says received bytes wait in the kernel. A
// loaded host can leave the reader descheduled with bytes waiting while it
// still looks blocked in Read: the line is not quiet then. Ports that cannot
// tell (a pipe in a test) report false.
func queued(port Port) bool {
	q, ok := port.(interface{ Queued() (int, error) })
	if !ok {
		return false
	}
	n, err := q.Queued()
	return err == nil && n > 0
}

// bauds are the rates tarm/serial accepts on Linux.
var bauds = map[int]bool{
	1200: true, 2400: true, 4800: true, 9600: true, 19200: true, 38400: true, 57600: true,
	115200: true, 230400: true, 460800: true, 500000: true, 576000: true, 921600: true,
	1000000: true, 1152000: true, 1500000: true, 2000000: true,
}
