// Package serial is the driver for 2D barcode scanners on a serial line
// (RS-232, or USB in virtual COM mode: /dev/ttyACM*, /dev/ttyUSB*), built on
// github.com/tarm/serial behind the small Port interface.
//
// A Scanner opens the device, cuts the byte stream into codes (by suffix or
// by idle gap, see Config), strips prefix and AIM identifier, drops noise,
// over-long lines and rereads, and delivers each code once on Scans. When the
// device goes away (a read that returns nothing at once, over and over, or
// the device node vanishing) it reports disconnected, reopens the same path
// with backoff and reports connected again. Beep and Trigger send the
// profile's host commands. Close, or the end of the context given to Open,
// stops it within one read timeout.
package serial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

var _ terminal.CodeSource = (*Scanner)(nil)

// Config describes a scanner and how to read it. Only Device is required.
type Config struct {
	// Device is the serial device path; /dev/serial/by-id/... names are
	// reopened by name after an unplug, so they survive renumbering.
	Device string
	// Profile is the scanner model; the zero value means GenericProfile.
	Profile Profile
	// Baud overrides the profile's baud rate; zero means the profile's.
	Baud int
	// Suffix overrides the profile's suffix; zero means the profile's.
	Suffix Suffix
	// Prefix is text the scanner puts before every code; frames without it
	// are dropped. Empty means none.
	Prefix string
	// AIM says what to do with AIM identifiers; zero means AIMAuto.
	AIM AIMMode
	// NoRead overrides the profile's no-read messages; nil means the
	// profile's.
	NoRead []string
	// MaxLen is the longest code accepted, in bytes; longer frames are
	// dropped. Zero means 2048.
	MaxLen int
	// MinLen is the shortest code accepted; zero means 1.
	MinLen int
	// IdleGap bounds how long after its last byte a frame is settled by the
	// line going quiet: without a suffix the frame is delivered, with one it
	// is dropped as unterminated, and after line noise the framer
	// resynchronises. The line must stay quiet for nine tenths of IdleGap
	// (QuietTime); the last tenth is the driver's budget to confirm the quiet
	// and hand the code over, so a code with no suffix reaches Scans within
	// IdleGap of its last byte. Zero means 50 ms without a suffix and 250 ms
	// with one.
	IdleGap time.Duration
	// RereadWindow is how long the same code read again is ignored, counted
	// from its last read. Zero means 1 s; negative turns it off.
	RereadWindow time.Duration
	// ReadTimeout bounds each Read on the port and so the time Close takes;
	// zero means 100 ms (tarm/serial counts in tenths of a second).
	ReadTimeout time.Duration
	// Backoff spaces out reopen attempts; the zero value waits 50 ms growing
	// to 1 s, each wait in the upper half of its ceiling, on After's clock.
	Backoff Backoff
	// Open opens the port; nil means OpenTarm. A custom opener also turns
	// off the check that the device node still exists.
	Open OpenFunc
	// Logger receives dropped frames and connection changes; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now stamps scans; nil means time.Now.
	Now func() time.Time
	// After is the clock for backoff waits; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// OnState is called with each connection change, from the driver's
	// goroutine; it must not block. Nil means no call.
	OnState func(terminal.ScannerState)
	// OnNoRead is called when the scanner reports a failed read (after a
	// trigger); it must not block. Nil means no call.
	OnNoRead func(at time.Time)
}

// Scanner is a barcode scanner on a serial line. It implements
// terminal.CodeSource.
type Scanner struct {
	cfg   Config
	fcfg  framerConfig
	log   *slog.Logger
	scans chan terminal.Scan
	state atomic.Value // terminal.ScannerState

	mu      sync.Mutex // guards port, started, cancel
	port    Port
	started bool
	cancel  context.CancelFunc

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// scanBuffer is how many scans wait for the caller before the driver stops
// reading (the kernel then buffers, and the scanner waits).
const scanBuffer = 16

// hangupReads is how many consecutive empty reads, each returning well
// before the read timeout, mean the device is gone.
const hangupReads = 3

// New returns a Scanner for cfg with defaults applied. It does no I/O; call
// Open.
func New(cfg Config) *Scanner {
	if cfg.Profile.Name == "" {
		cfg.Profile = GenericProfile()
	}
	if cfg.Baud == 0 {
		cfg.Baud = cfg.Profile.Baud
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Suffix == SuffixDefault {
		cfg.Suffix = cfg.Profile.Suffix
	}
	if cfg.Suffix == SuffixDefault {
		cfg.Suffix = SuffixNone
	}
	if cfg.NoRead == nil {
		cfg.NoRead = cfg.Profile.NoRead
	}
	if cfg.NoRead == nil {
		cfg.NoRead = defaultNoRead
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = 2048
	}
	cfg.MinLen = max(cfg.MinLen, 1)
	if cfg.IdleGap == 0 {
		cfg.IdleGap = 250 * time.Millisecond
		if cfg.Suffix == SuffixNone {
			cfg.IdleGap = 50 * time.Millisecond
		}
	}
	if cfg.RereadWindow == 0 {
		cfg.RereadWindow = time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	cfg.Backoff = reopenBackoff(cfg.Backoff, cfg.After)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Scanner{
		cfg: cfg,
		fcfg: framerConfig{suffix: cfg.Suffix, prefix: cfg.Prefix, aim: cfg.AIM, noRead: cfg.NoRead,
			maxLen: cfg.MaxLen, minLen: cfg.MinLen, gap: quietTime(cfg.IdleGap)},
		log:   log.With("scanner", cfg.Device),
		scans: make(chan terminal.Scan, scanBuffer),
	}
	s.state.Store(terminal.ScannerDisconnected)
	return s
}

// String names the scanner by its device: Scanner{/dev/ttyACM0}.
func (s *Scanner) String() string { return "Scanner{" + s.cfg.Device + "}" }

// Config returns the configuration in use, defaults applied.
func (s *Scanner) Config() Config { return s.cfg }

// QuietTime is how long the line must stay quiet before the driver settles
// a frame: nine tenths of IdleGap (see Config.IdleGap).
func (s *Scanner) QuietTime() time.Duration { return s.fcfg.gap }

// quietTime keeps a tenth of the idle gap for confirming the quiet and
// handing the frame over, so that delivery falls within the gap.
func quietTime(gap time.Duration) time.Duration { return gap - gap/10 }

// validate checks what New cannot default.
func (s *Scanner) validate() error {
	c := s.cfg
	switch {
	case c.Device == "":
		return fmt.Errorf("%w: no device", ErrBadConfig)
	case !bauds[c.Baud]:
		return fmt.Errorf("%w: unsupported baud rate %d", ErrBadConfig, c.Baud)
	case c.Suffix < SuffixNone || c.Suffix > SuffixETX:
		return fmt.Errorf("%w: unknown suffix %d", ErrBadConfig, int(c.Suffix))
	case c.AIM < AIMAuto || c.AIM > AIMOff:
		return fmt.Errorf("%w: unknown AIM mode %d", ErrBadConfig, int(c.AIM))
	case c.MaxLen < c.MinLen:
		return fmt.Errorf("%w: MaxLen %d below MinLen %d", ErrBadConfig, c.MaxLen, c.MinLen)
	}
	return nil
}

// Open validates the configuration, tries the device once and starts
// reading. A device that is absent or busy is not an error: the scanner
// starts disconnected and keeps trying. A device the process may not open
// is (see docs/scanner.md on permissions). The scanner stops when ctx ends
// or Close is called.
func (s *Scanner) Open(ctx context.Context) error {
	if err := s.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrClosed
	}
	port, err := s.openPort()
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("open scanner %s: %w", s.cfg.Device, err)
	}
	if err != nil {
		s.log.Warn("scanner not available yet, will retry", "err", err)
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, port)
	}()
	return nil
}

// Close stops the scanner, waits for its goroutines (at most about one read
// timeout) and closes Scans.
func (s *Scanner) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		started, cancel := s.started, s.cancel
		s.started = true // no Open after Close
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		s.wg.Wait()
		if !started {
			close(s.scans)
		}
	})
	return nil
}

// Scans delivers each code once; the channel closes when the scanner stops.
func (s *Scanner) Scans() <-chan terminal.Scan { return s.scans }

// State reports whether the scanner is connected now.
func (s *Scanner) State() terminal.ScannerState {
	return s.state.Load().(terminal.ScannerState)
}

// Beep makes the scanner signal a good or a bad read to the cashier.
func (s *Scanner) Beep(ctx context.Context, f terminal.Feedback) error {
	switch f {
	case terminal.GoodRead:
		return s.command(ctx, "good-read beep", s.cfg.Profile.GoodBeep)
	case terminal.BadRead:
		return s.command(ctx, "bad-read beep", s.cfg.Profile.BadBeep)
	}
	return fmt.Errorf("beep: unknown feedback %d", int(f))
}

// Trigger starts (on) or stops a read, as pulling or releasing the trigger
// does.
func (s *Scanner) Trigger(ctx context.Context, on bool) error {
	if on {
		return s.command(ctx, "trigger on", s.cfg.Profile.TriggerOn)
	}
	return s.command(ctx, "trigger off", s.cfg.Profile.TriggerOff)
}

// command writes a host command to the scanner.
func (s *Scanner) command(ctx context.Context, what string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%s on %s: %w", what, s.cfg.Profile.Name, ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == nil {
		return fmt.Errorf("%s: %w", what, ErrDisconnected)
	}
	if _, err := s.port.Write(b); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// openPort opens the device once.
func (s *Scanner) openPort() (Port, error) {
	open := s.cfg.Open
	if open == nil {
		open = OpenTarm
	}
	return open(s.cfg.Device, s.cfg.Baud, s.cfg.ReadTimeout)
}

// setState records a connection change and tells OnState.
func (s *Scanner) setState(st terminal.ScannerState) {
	if s.state.Swap(st) == st {
		return
	}
	s.log.Info("scanner "+string(st), "state", st)
	if s.cfg.OnState != nil {
		s.cfg.OnState(st)
	}
}
