package firmwaresim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// device is one plugged-in scanner: a pseudo-terminal whose slave side the
// host opens as a serial port.
type device struct {
	master *os.File // non-blocking, so Close wakes a blocked Read or Write
	slave  *os.File // held open so the line exists between host opens
	name   string   // /dev/pts/N
}

// openDevice makes a pseudo-terminal, sets its slave raw at once (no echo,
// no line discipline, 8 bits) and keeps the slave open.
func openDevice() (*device, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	// creack/pty put the master in blocking mode (it calls Fd); a blocked
	// Read on it would survive Close. Take a non-blocking duplicate that
	// the runtime poller manages.
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("dup pty master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		s.Close()
		return nil, fmt.Errorf("pty master non-blocking: %w", err)
	}
	d := &device{master: os.NewFile(uintptr(fd), "/dev/ptmx"), slave: s, name: s.Name()}
	if err := makeRaw(int(s.Fd())); err != nil {
		d.close()
		return nil, fmt.Errorf("pty slave raw: %w", err)
	}
	return d, nil
}

// makeRaw sets the terminal fd to raw mode, as cfmakeraw does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// drain waits until the host has read every byte sent (the slave's input
// queue is empty five times in a row, a millisecond apart: bytes still in
// the kernel's flip buffer are not counted yet) or timeout passes.
func (d *device) drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	empty := 0
	for empty < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		n, err := unix.IoctlGetInt(int(d.slave.Fd()), unix.TIOCINQ)
		if err != nil {
			return
		}
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
	}
}

// close unplugs the device: the host's open descriptor is hung up and the
// /dev/pts node disappears.
func (d *device) close() {
	d.master.Close()
	d.slave.Close()
}

// link points path at target atomically, replacing an older link but never
// a file that is not a symlink.
func link(target, path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("link %s: exists and is not a symlink", path)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

// unlink removes the link at path if it is one.
func unlink(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("unlink %s: not a symlink", path)
	}
	return os.Remove(path)
}
