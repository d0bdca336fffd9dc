package serial

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// idleConfirm is how long the reader must stay blocked in the same Read
// after an idle gap before the gap is acted on.
const idleConfirm = 2 * time.Millisecond

// chunk is what the reader goroutine hands to the session: bytes and when
// they arrived.
type chunk struct {
	data []byte
	at   time.Time
	// quiet is set when the Read that got the bytes had been blocked for
	// the idle gap: the line was quiet that long before them, however late
	// the session looks at them.
	quiet bool
}

// run keeps the scanner connected until ctx ends: open, serve, and after a
// disconnect reopen with backoff. port is the port Open got, or nil.
func (s *Scanner) run(ctx context.Context, port Port) {
	defer close(s.scans) // serve has reported disconnected by then
	fr := newFramer(s.fcfg)
	seen := map[string]time.Time{}
	bo := s.cfg.Backoff
	failures := 0
	for {
		if port == nil {
			var err error
			if port, err = s.openPort(); err != nil {
				failures++
				if failures == 1 || failures%100 == 0 {
					s.log.Warn("cannot open scanner, retrying", "err", err, "attempts", failures)
				}
				if bo.Wait(ctx) != nil {
					return
				}
				continue
			}
		}
		failures = 0
		began := time.Now()
		gotData := s.serve(ctx, port, fr, seen)
		port = nil
		if ctx.Err() != nil {
			return
		}
		if gotData || time.Since(began) > time.Second {
			bo.Reset()
		}
		if bo.Wait(ctx) != nil {
			return
		}
	}
}

// serve reads one open port until it goes away or ctx ends, and reports
// whether any byte came.
func (s *Scanner) serve(ctx context.Context, port Port, fr *framer, seen map[string]time.Time) (gotData bool) {
	rctx, stop := context.WithCancel(ctx)
	chunks := make(chan chunk, 64)
	var rs readerState
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.read(rctx, port, chunks, &rs)
	}()
	s.mu.Lock()
	s.port = port
	s.mu.Unlock()
	s.setState(terminal.ScannerConnected)
	defer func() {
		s.mu.Lock()
		s.port = nil
		s.mu.Unlock()
		stop()
		// tarm's Close does not wake a blocked Read; the read timeout does.
		if err := port.Close(); err != nil {
			s.log.Debug("close port", "err", err)
		}
		<-done
		if fr.pending() {
			s.log.Warn("partial frame dropped at disconnect")
		}
		fr.reset()
		s.setState(terminal.ScannerDisconnected)
	}()

	idle := time.NewTimer(time.Hour)
	idle.Stop()
	// An idle gap is settled in two steps: the gap has passed with the
	// reader blocked, and it is still blocked in the same Read a moment
	// later (a reader descheduled just after its Read returned would
	// otherwise look blocked while its bytes wait to be handed over).
	var confirmRead uint64
	confirming := false
	for {
		select {
		case <-ctx.Done():
			return gotData
		case c, ok := <-chunks:
			if !ok {
				return gotData
			}
			gotData = true
			confirming = false
			if c.quiet && !s.deliver(ctx, fr.idle(c.at), seen) {
				return gotData
			}
			if !s.deliver(ctx, fr.push(c.data, c.at), seen) {
				return gotData
			}
			if fr.pending() {
				idle.Reset(max(time.Until(fr.deadline())-idleConfirm, 0))
			}
		case <-idle.C:
			if !fr.pending() {
				continue
			}
			if !rs.quiet(chunks, s.cfg.Suffix) || queued(port) {
				confirming = false
				idle.Reset(time.Millisecond)
				continue
			}
			if n := rs.reads.Load(); !confirming || n != confirmRead {
				confirming, confirmRead = true, n
				idle.Reset(max(time.Until(fr.deadline()), idleConfirm))
				continue
			}
			if d := time.Until(fr.deadline()); d > 0 {
				idle.Reset(d)
				continue
			}
			confirming = false
			if !s.deliver(ctx, fr.idle(s.cfg.Now()), seen) {
				return gotData
			}
			if fr.pending() {
				idle.Reset(max(time.Until(fr.deadline())-idleConfirm, time.Millisecond))
			}
		}
	}
}

// byteTime is how long one byte takes on the line: 10 bits (8N1).
func (s *Scanner) byteTime() time.Duration {
	return time.Duration(10 * int64(time.Second) / int64(s.cfg.Baud))
}

// readerState is what the reader goroutine tells the session between
// chunks, so that an idle gap is only trusted when the line really is quiet.
type readerState struct {
	reading atomic.Bool   // inside port.Read
	suspect atomic.Bool   // the last empty read came back at once
	reads   atomic.Uint64 // Reads returned so far
}

// quiet reports whether an idle gap may be acted on: no chunk is waiting,
// the reader is blocked in Read (so no byte is waiting in the kernel) and,
// without a suffix, it has not just seen a hang-up-like read (the line may
// have been cut mid-frame: wait for its verdict rather than deliver a
// truncated code).
func (rs *readerState) quiet(chunks chan chunk, suffix Suffix) bool {
	if len(chunks) > 0 || !rs.reading.Load() {
		return false
	}
	return suffix != SuffixNone || !rs.suspect.Load()
}

// read is the reader goroutine of one connection. It returns, closing
// chunks, when the device is gone or ctx ends.
func (s *Scanner) read(ctx context.Context, port Port, chunks chan<- chunk, rs *readerState) {
	defer close(chunks)
	suspect := &rs.suspect
	buf := make([]byte, 1024)
	fast := 0
	// emptySince is when the first of the empty Reads since the last bytes
	// began, emptyEnd when the last one returned: a quiet line returns one
	// every ReadTimeout, and its quiet time spans them all.
	var emptySince, emptyEnd time.Time
	for ctx.Err() == nil {
		began := time.Now()
		if emptySince.IsZero() {
			emptySince = began
		}
		rs.reading.Store(true)
		n, err := port.Read(buf)
		rs.reading.Store(false)
		rs.reads.Add(1)
		if n > 0 {
			fast = 0
			suspect.Store(false)
			// The line was quiet before these bytes if the reader waited
			// the gap for them, in this Read and the empty ones before it,
			// less the time they took on the wire: a reader woken late by a
			// loaded host finds the bytes that came meanwhile, and must not
			// take its own delay for a gap. Bytes already waiting when this
			// Read began (it was blocked less than their time on the wire)
			// came at some time after the last empty Read returned.
			onWire := time.Duration(n) * s.byteTime()
			quietFor := time.Since(emptySince) - onWire
			if time.Since(began) < onWire {
				quietFor = emptyEnd.Sub(emptySince)
			}
			c := chunk{data: append([]byte(nil), buf[:n]...), at: s.cfg.Now(), quiet: quietFor >= s.fcfg.gap}
			emptySince, emptyEnd = time.Time{}, time.Time{}
			select {
			case chunks <- c:
			case <-ctx.Done():
				return
			}
			continue
		}
		emptyEnd = time.Now()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			s.log.Warn("scanner read failed, treating as unplugged", "err", err)
			return
		}
		if time.Since(began) < s.cfg.ReadTimeout/2 {
			suspect.Store(true)
			if fast++; fast >= hangupReads {
				s.log.Warn("scanner reads return at once with no data: unplugged")
				return
			}
			continue
		}
		fast = 0
		suspect.Store(false)
		if s.cfg.Open == nil {
			if _, err := os.Stat(s.cfg.Device); errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("scanner device node is gone: unplugged")
				return
			}
		}
	}
}

// deliver acts on frames: codes go to Scans (rereads within the window
// dropped), no-reads to OnNoRead, drops to the log. It returns false if ctx
// ended while waiting for the caller.
func (s *Scanner) deliver(ctx context.Context, frames []frame, seen map[string]time.Time) bool {
	for _, f := range frames {
		switch f.kind {
		case frameDropped:
			s.log.Warn("scanner frame dropped", "reason", f.reason, "bytes", f.sample)
		case frameNoRead:
			s.log.Info("scanner reports no read")
			if s.cfg.OnNoRead != nil {
				s.cfg.OnNoRead(f.at)
			}
		case frameCode:
			if s.reread(f, seen) {
				s.log.Debug("reread ignored", "code", f.code)
				continue
			}
			scan := terminal.Scan{Code: f.code, Symbology: f.symbology, At: f.at, Source: s.cfg.Device}
			select {
			case s.scans <- scan:
			case <-ctx.Done():
				return false
			}
		}
	}
	return true
}

// reread reports whether f repeats a code read within the reread window,
// and records the read.
func (s *Scanner) reread(f frame, seen map[string]time.Time) bool {
	w := s.cfg.RereadWindow
	if w < 0 {
		return false
	}
	last, ok := seen[f.code]
	seen[f.code] = f.at
	if len(seen) > 64 {
		for c, at := range seen {
			if f.at.Sub(at) > w {
				delete(seen, c)
			}
		}
	}
	return ok && f.at.Sub(last) < w
}
