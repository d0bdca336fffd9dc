// Package firmwaresim is a barcode scanner simulator on a pseudo-terminal,
// for tests and demos with no hardware. It behaves as scanner firmware does
// on a serial line: the host opens the pty slave (through a symlink that
// stays at the same path) as if it were /dev/ttyACM0; codes go out framed
// with the configured prefix, AIM identifier and suffix, paced at the baud
// rate (10 bits a byte) in uneven chunks; host commands (trigger, beeps) are
// understood per profile; the device can be unplugged and plugged back.
//
// Use it in process:
//
//	sim, err := firmwaresim.Start(ctx, firmwaresim.Config{Link: dir + "/scanner"})
//	...
//	err = sim.Scan("VC1:...")
//
// or through cmd/scannersim, which drives the same code from stdin.
package firmwaresim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/voucherpos/voucherpos/drivers/qrimage"
)

// ErrUnplugged is returned when the simulated scanner is unplugged before or
// while it sends.
var ErrUnplugged = errors.New("firmwaresim: scanner unplugged")

// ErrNoRead is returned when the scanner found no code to read (it sends its
// no-read message, if it has one).
var ErrNoRead = errors.New("firmwaresim: no code read")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("firmwaresim: simulator closed")

// ErrSeveralCodes is returned by Image when the picture holds more than one
// code: an imager aimed at several vouchers must not pick one of them at
// random. The scanner sends its no-read message instead.
var ErrSeveralCodes = errors.New("画面里有多张券码，请一次只扫一张 / the picture holds several codes: scan one voucher at a time")

// Config sets up a simulated scanner. The zero value is a Honeywell-like
// scanner reachable only by Device().
type Config struct {
	// Link is a path made a symlink to the pty slave (and remade at Plug);
	// empty means none, and Path returns the /dev/pts name.
	Link string
	// Profile is the scanner model; the zero value means Honeywell().
	Profile Profile
	// Baud overrides the profile's line speed; zero means the profile's.
	Baud int
	// Suffix overrides the profile's suffix (CR, LF, CRLF, TAB, ETX, none,
	// in any case); empty means the profile's.
	Suffix string
	// Prefix is sent before every code; empty means none.
	Prefix string
	// AIM puts the AIM identifier "]Q1" (QR code) before every code.
	AIM bool
	// MaxChunk is the largest chunk the bytes are written in; chunks are
	// 1..MaxChunk bytes at random, and never longer on the line than
	// MaxChunkTime. Zero means 32.
	MaxChunk int
	// MaxChunkTime bounds a chunk's time on the line, as a USB-serial
	// adapter's latency timer or a UART FIFO does; zero means 8 ms.
	MaxChunkTime time.Duration
	// Duplicates is the probability that a scan is sent twice, as a
	// presentation-mode scanner rereads a code held in front of it.
	Duplicates float64
	// DuplicateGap is the time between a code and its reread; zero means 50 ms.
	DuplicateGap time.Duration
	// Noise is the probability that a scan is preceded by a burst of line
	// noise (8 to 64 random bytes) followed by NoiseGap of quiet.
	Noise float64
	// NoiseGap is the quiet after a noise burst; zero means 300 ms.
	NoiseGap time.Duration
	// Seed seeds chunking and noise; zero means a random seed.
	Seed uint64
	// OnCommand is called with each host command understood ("trigger on",
	// "trigger off", "beep good", "beep bad", "enable") or "unknown"; it
	// must not block. Nil means no call.
	OnCommand func(name string)
	// Logger receives what the scanner does; nil means slog.Default().
	Logger *slog.Logger
}

// Sim is a running simulated scanner.
type Sim struct {
	cfg      Config
	suffix   []byte
	byteTime time.Duration
	log      *slog.Logger
	stopCtx  func() bool

	txMu  sync.Mutex    // one transmission at a time on the line
	pause time.Duration // guarded by txMu: the longest pause inside the last transmission

	mu        sync.Mutex // guards the fields below
	dev       *device
	rng       *rand.Rand
	presented string
	closed    bool

	wg sync.WaitGroup
}

// paceSlack is how early a chunk may leave: bytes go out on a 1 ms clock,
// as a USB serial device's frames do, rather than spinning on a CPU.
const paceSlack = time.Millisecond

// drainTimeout bounds how long Unplug waits for the host to read what was
// sent before the cable goes.
const drainTimeout = 250 * time.Millisecond

// Start plugs in a simulated scanner: a new pty, set raw, with the link
// made. It stops when ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if cfg.Profile.Name == "" {
		cfg.Profile = Honeywell()
	}
	if cfg.Baud == 0 {
		cfg.Baud = cfg.Profile.Baud
	}
	if cfg.Suffix == "" {
		cfg.Suffix = cfg.Profile.Suffix
	}
	if cfg.MaxChunk <= 0 {
		cfg.MaxChunk = 32
	}
	if cfg.MaxChunkTime <= 0 {
		cfg.MaxChunkTime = 8 * time.Millisecond
	}
	if cfg.DuplicateGap <= 0 {
		cfg.DuplicateGap = 50 * time.Millisecond
	}
	if cfg.NoiseGap <= 0 {
		cfg.NoiseGap = 300 * time.Millisecond
	}
	if cfg.Baud <= 0 {
		return nil, fmt.Errorf("firmwaresim: bad baud rate %d", cfg.Baud)
	}
	suffix, err := SuffixBytes(cfg.Suffix)
	if err != nil {
		return nil, fmt.Errorf("firmwaresim: %w", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	byteTime := time.Duration(10 * float64(time.Second) / float64(cfg.Baud))
	cfg.MaxChunk = max(1, min(cfg.MaxChunk, int(cfg.MaxChunkTime/byteTime)))
	s := &Sim{
		cfg: cfg, suffix: suffix, log: log.With("sim", cfg.Profile.Name),
		byteTime: byteTime,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	if err := s.Plug(); err != nil {
		return nil, err
	}
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// Path is where the host opens the scanner: the link, or the current
// /dev/pts name when there is no link.
func (s *Sim) Path() string {
	if s.cfg.Link != "" {
		return s.cfg.Link
	}
	return s.Device()
}

// Device is the current pty slave name, or "" while unplugged.
func (s *Sim) Device() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return ""
	}
	return s.dev.name
}

// Plugged reports whether the scanner is plugged in.
func (s *Sim) Plugged() bool { return s.Device() != "" }

// ByteTime is the time one byte takes on the line at the configured baud.
func (s *Sim) ByteTime() time.Duration { return s.byteTime }

// Config returns the configuration in use, defaults applied.
func (s *Sim) Config() Config { return s.cfg }

// Plug connects the scanner: a new pty, set raw, the link pointed at it. It
// is a no-op if the scanner is plugged in.
func (s *Sim) Plug() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.dev != nil {
		return nil
	}
	dev, err := openDevice()
	if err != nil {
		return fmt.Errorf("firmwaresim: plug: %w", err)
	}
	if s.cfg.Link != "" {
		if err := link(dev.name, s.cfg.Link); err != nil {
			dev.close()
			return fmt.Errorf("firmwaresim: plug: %w", err)
		}
	}
	s.dev = dev
	s.wg.Add(1)
	go s.listen(dev)
	s.log.Debug("plugged", "device", dev.name, "link", s.cfg.Link)
	return nil
}

// Unplug disconnects the scanner: the link is removed and the pty closed,
// which hangs up the host's descriptor and removes the /dev/pts node. A
// transmission in progress stops mid-frame. It is a no-op if the scanner is
// unplugged.
func (s *Sim) Unplug() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.unplugLocked()
}

func (s *Sim) unplugLocked() error {
	dev := s.dev
	if dev == nil {
		return nil
	}
	s.dev = nil // a transmission in progress stops at its next chunk
	// Bytes already written have left the scanner: let the host's line
	// buffer empty before the cable goes, as the bytes of a real scanner
	// are in the host's UART by then. A host that is not reading gets
	// drainTimeout.
	dev.drain(drainTimeout)
	var err error
	if s.cfg.Link != "" {
		err = unlink(s.cfg.Link)
	}
	dev.close()
	s.log.Debug("unplugged")
	return err
}

// Close unplugs the scanner and stops the simulator.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	err := s.unplugLocked()
	s.closed = true
	s.mu.Unlock()
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.wg.Wait()
	return err
}

// current returns the plugged device, or an error.
func (s *Sim) current() (*device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrClosed
	case s.dev == nil:
		return nil, ErrUnplugged
	}
	return s.dev, nil
}

// intn returns a random number in [0, n).
func (s *Sim) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

// chance returns true with probability p.
func (s *Sim) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < p
}

// noise returns n bytes of line noise.
func (s *Sim) noise(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	return b
}

// transmit writes p to the line, paced at the baud rate in uneven chunks,
// and returns when its last byte left.
func (s *Sim) transmit(p []byte) (time.Time, error) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	dev, err := s.current()
	if err != nil {
		return time.Time{}, err
	}
	start, sent, last := time.Now(), 0, time.Now()
	s.pause = 0
	for sent < len(p) {
		n := min(1+s.intn(s.cfg.MaxChunk), len(p)-sent)
		if d := time.Until(start.Add(time.Duration(sent+n) * s.byteTime)); d > paceSlack {
			time.Sleep(d)
		}
		if cur, err := s.current(); err != nil || cur != dev {
			return time.Time{}, ErrUnplugged
		}
		if _, err := dev.master.Write(p[sent : sent+n]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return time.Time{}, ErrUnplugged
			}
			return time.Time{}, fmt.Errorf("firmwaresim: write: %w", err)
		}
		// From the end of one write to the end of the next: a stall
		// anywhere before the bytes are on the line counts.
		if now := time.Now(); sent > 0 {
			s.pause = max(s.pause, now.Sub(last))
		}
		last = time.Now()
		sent += n
	}
	return last, nil
}

// LastPause returns the longest pause between two writes inside the last
// transmission (a code, raw bytes, noise). A real UART never pauses inside
// a frame, but a simulator on a loaded machine can stall for tens of
// milliseconds: a test of no-suffix framing, where a long enough pause is a
// frame boundary, can tell such a line from the one it meant to send.
func (s *Sim) LastPause() time.Duration {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	return s.pause
}

// frame wraps text as the scanner sends it.
func (s *Sim) frame(text string, aim bool) []byte {
	var b []byte
	if len(s.suffix) == 1 && s.suffix[0] == etx {
		b = append(b, stx)
	}
	b = append(b, s.cfg.Prefix...)
	if aim {
		b = append(b, "]Q1"...)
	}
	b = append(b, text...)
	return append(b, s.suffix...)
}

// Scan reads a code carrying text and sends it. It returns once the last
// byte is on the line.
func (s *Sim) Scan(text string) error {
	_, err := s.ScanTimed(text)
	return err
}

// ScanTimed is Scan, also returning when the last byte of the code left.
func (s *Sim) ScanTimed(text string) (time.Time, error) {
	if text == "" {
		return time.Time{}, errors.New("firmwaresim: empty code")
	}
	if s.chance(s.cfg.Noise) {
		if err := s.Garbage(8 + s.intn(57)); err != nil {
			return time.Time{}, err
		}
		time.Sleep(s.cfg.NoiseGap)
	}
	last, err := s.transmit(s.frame(text, s.cfg.AIM))
	if err != nil {
		return last, err
	}
	if s.chance(s.cfg.Duplicates) {
		time.Sleep(s.cfg.DuplicateGap)
		if _, err := s.transmit(s.frame(text, s.cfg.AIM)); err != nil {
			return last, err
		}
	}
	return last, nil
}

// SendRaw puts p on the line as is, paced like a code.
func (s *Sim) SendRaw(p []byte) error {
	_, err := s.transmit(p)
	return err
}

// Garbage sends n bytes of line noise.
func (s *Sim) Garbage(n int) error {
	if n <= 0 {
		return fmt.Errorf("firmwaresim: garbage of %d bytes", n)
	}
	_, err := s.transmit(s.noise(n))
	return err
}

// NoRead sends the profile's no-read message, as after a failed triggered
// read, and returns ErrNoRead.
func (s *Sim) NoRead() error {
	if s.cfg.Profile.NoRead != "" {
		if _, err := s.transmit(s.frame(s.cfg.Profile.NoRead, false)); err != nil {
			return err
		}
	}
	return ErrNoRead
}

// Image photographs the QR picture in the file at path as an imager does:
// it decodes it and sends the code, returning its text. If there is no
// readable code it sends the no-read message and returns ErrNoRead; if
// there are several different codes it sends the no-read message too and
// returns ErrSeveralCodes.
func (s *Sim) Image(path string) (string, error) {
	rs, err := qrimage.DecodeFile(path)
	if errors.Is(err, qrimage.ErrNoCode) {
		return "", s.NoRead()
	}
	if err != nil {
		return "", err
	}
	text := rs[0].Text
	for _, r := range rs[1:] {
		if r.Text != text {
			if err := s.NoRead(); !errors.Is(err, ErrNoRead) {
				return "", err
			}
			return "", fmt.Errorf("%w (%d codes)", ErrSeveralCodes, len(rs))
		}
	}
	return text, s.Scan(text)
}

// Present holds a code in front of the scanner: the next trigger (from the
// host or PullTrigger) reads it. Empty takes it away.
func (s *Sim) Present(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presented = text
}

// PullTrigger reads the presented code, or sends a no-read if there is none.
func (s *Sim) PullTrigger() error {
	s.mu.Lock()
	text := s.presented
	s.presented = ""
	s.mu.Unlock()
	if text == "" {
		return s.NoRead()
	}
	return s.Scan(text)
}
