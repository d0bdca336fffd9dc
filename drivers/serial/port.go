package serial

import (
	"io"
	"time"

	tarm "github.com/tarm/serial"
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
// one tenth; a timed-out Read returns (0, io.EOF).
func OpenTarm(path string, baud int, readTimeout time.Duration) (Port, error) {
	p, err := tarm.OpenPort(&tarm.Config{Name: path, Baud: baud, ReadTimeout: readTimeout})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// bauds are the rates tarm/serial accepts on Linux.
var bauds = map[int]bool{
	1200: true, 2400: true, 4800: true, 9600: true, 19200: true, 38400: true, 57600: true,
	115200: true, 230400: true, 460800: true, 500000: true, 576000: true, 921600: true,
	1000000: true, 1152000: true, 1500000: true, 2000000: true,
}
