package serial

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// frameKind says what the framer made of a frame.
type frameKind int

const (
	frameCode    frameKind = iota + 1 // a code to deliver
	frameNoRead                       // the scanner's no-read message
	frameDropped                      // noise, an over-long or malformed frame
)

// frame is one result of the framer.
type frame struct {
	kind      frameKind
	code      string    // frameCode: the code without prefix, AIM id or suffix
	symbology string    // frameCode: the AIM identifier, or ""
	reason    string    // frameDropped: why
	sample    string    // frameDropped: the first bytes, quoted, for the log
	at        time.Time // when the frame's last byte arrived
}

// framerConfig is the framing part of Config, defaults applied.
type framerConfig struct {
	suffix Suffix
	prefix string
	aim    AIMMode
	noRead []string
	maxLen int
	minLen int
	gap    time.Duration
}

// framer cuts the byte stream from a scanner into frames. It does no I/O
// and keeps no clock: bytes come with their arrival time, and Idle is called
// when the line may have gone quiet.
//
// A frame ends at CR, LF or the configured suffix byte; without a suffix,
// also when the line stays quiet for the idle gap. A control byte outside
// those is line noise: the frame is dropped, and the framer resynchronises.
// When every frame must carry a marker (a prefix or an AIM identifier), it
// hunts for the next marker and starts the frame there, so a code sent
// right after noise, with no gap, is read (it does not depend on seeing a
// gap, which a reader that fell behind cannot). Otherwise a printable run
// of noise could pass for a code, so everything up to the next idle gap is
// dropped with the noise.
//
// Frames longer than maxLen are dropped, and no part of them is ever
// delivered: with a suffix, the line ends at its terminator only, so a
// pause inside it (or a host too loaded to read it in time, which looks the
// same) is reported as the drop and the rest of the line is discarded up to
// the terminator, or up to the next marker when frames carry one.
//
// With a suffix, a frame ends at its terminator only: a quiet gap inside it
// means the scanner or the host stalled (the frame goes on), or the frame
// was cut short. The bytes after the gap tell which: a marker (the prefix,
// or else an AIM identifier unless AIM is off) starts a new frame and the
// cut one is dropped; anything else continues the frame. Without markers a cut frame runs into the next one, which no code survives (the
// agent checks every code's signature); dropping the part before the gap
// instead would deliver the part after it, a fragment, after every stall.
type framer struct {
	cfg      framerConfig
	buf      []byte
	last     time.Time // arrival of the last byte seen
	resync   bool      // discarding until an idle gap, after noise
	hunt     bool      // discarding until a marker; buf holds a partial one
	overlong int       // bytes of an over-long frame discarded so far, or 0
	tail     bool      // discarding the rest of a reported over-long line until its terminator
	paused   bool      // buf is a frame the line went quiet inside; after decides its fate
	after    []byte    // bytes since the pause, while they may still begin a marker
}

// newFramer returns a framer for cfg; cfg must have its defaults applied.
func newFramer(cfg framerConfig) *framer {
	return &framer{cfg: cfg, buf: make([]byte, 0, 256)}
}

// pending reports whether the framer holds bytes or state an idle gap would
// settle.
func (f *framer) pending() bool {
	return (len(f.buf) > 0 && !f.paused) || f.resync || f.overlong > 0
}

// reset forgets any partial frame, as after a disconnect.
func (f *framer) reset() {
	f.buf, f.resync, f.hunt, f.overlong, f.tail = f.buf[:0], false, false, 0, false
	f.paused, f.after = false, f.after[:0]
}

// push adds bytes that arrived at time at and returns the frames they end.
func (f *framer) push(p []byte, at time.Time) []frame {
	var out []frame
	f.last = at
	for i := 0; i < len(p); i++ {
		c := p[i]
		if f.paused {
			fr, verdict, again := f.resume(c, at)
			if verdict {
				out = append(out, fr)
			}
			if again == nil {
				continue
			}
			// A continuation: the bytes held since the pause go through
			// the frame as if there had been no gap.
			p = append(again, p[i+1:]...)
			i = -1
			continue
		}
		switch {
		case f.hunt:
			f.huntByte(c)
		case f.cfg.suffix.terminator(c):
			if fr, ok := f.end(at); ok {
				out = append(out, fr)
			}
		case f.resync || f.tail:
		case f.overlong > 0:
			f.overlong++
		case f.binary(c):
			out = append(out, f.drop("line noise (control byte)", append(f.buf, c), at))
			f.buf = f.buf[:0]
			f.resync, f.hunt = !f.strict(), f.strict()
		case len(f.buf) >= f.cfg.maxLen:
			f.overlong, f.buf = len(f.buf)+1, f.buf[:0]
		default:
			f.buf = append(f.buf, c)
		}
	}
	return out
}

// resume takes one byte after a pause inside a frame. A whole marker
// means the paused frame was cut short: it is returned as a drop (verdict)
// and the marker starts the next frame. A byte that cannot continue a
// marker means the frame goes on: again returns the bytes held since the
// pause, for the caller to push as ordinary bytes.
func (f *framer) resume(c byte, at time.Time) (fr frame, verdict bool, again []byte) {
	if c == stx && len(f.after) == 0 && f.cfg.suffix == SuffixETX {
		// With STX/ETX framing an STX is the start of a frame, marker or not.
		fr = f.drop("unterminated frame (the line went quiet inside it, then a new frame began)", f.buf, f.last)
		f.buf = append(f.buf[:0], stx)
		f.paused = false
		return fr, true, nil
	}
	f.after = append(f.after, c)
	if (f.cfg.prefix == "" && f.cfg.aim == AIMOff) || !f.couldStart(f.after) {
		again = append([]byte(nil), f.after...)
		f.paused, f.after = false, f.after[:0]
		return frame{}, false, again
	}
	b := f.after
	if b[0] == stx {
		b = b[1:]
	}
	if len(b) < f.markerLen() {
		return frame{}, false, nil
	}
	fr = f.drop("unterminated frame (the line went quiet inside it, then a new frame began)", f.buf, f.last)
	f.buf = append(f.buf[:0], f.after...)
	f.paused, f.after = false, f.after[:0]
	return fr, true, nil
}

// huntByte takes one byte while hunting for a marker: buf keeps the
// longest tail of what was seen that may begin a frame, and once it holds
// a whole marker the frame goes on from there.
func (f *framer) huntByte(c byte) {
	f.buf = append(f.buf, c)
	for i := range f.buf {
		if f.couldStart(f.buf[i:]) {
			f.buf = f.buf[:copy(f.buf, f.buf[i:])]
			break
		}
	}
	if !f.couldStart(f.buf) {
		f.buf = f.buf[:0]
		return
	}
	b := f.buf
	if b[0] == stx {
		b = b[1:]
	}
	f.hunt = len(b) < f.markerLen()
}

// markerLen is the length of the marker every frame starts with in strict
// mode: the prefix, or an AIM identifier.
func (f *framer) markerLen() int {
	if p := f.cfg.prefix; p != "" {
		return len(p)
	}
	return 3
}

// couldStart reports whether b, an optional STX then up to a marker's
// length of bytes, matches the start of a marker.
func (f *framer) couldStart(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] == stx {
		b = b[1:]
	}
	b = b[:min(len(b), f.markerLen())]
	if p := f.cfg.prefix; p != "" {
		return string(b) == p[:len(b)]
	}
	for i, c := range b {
		switch {
		case i == 0 && c != ']':
			return false
		case i == 1 && !isLetter(c):
			return false
		case i == 2 && !isLetter(c) && (c < '0' || c > '9'):
			return false
		}
	}
	return true
}

// idle tells the framer the time is now; if the line has been quiet for the
// idle gap it settles what it holds and returns the frame, if any.
func (f *framer) idle(now time.Time) []frame {
	if !f.pending() || now.Sub(f.last) < f.cfg.gap {
		return nil
	}
	switch {
	case f.hunt:
		f.buf = f.buf[:0] // a partial marker, then quiet: not a frame start
		return nil
	case f.resync:
		f.reset()
		return nil
	case f.overlong > 0 && f.cfg.suffix != SuffixNone:
		// The pause is inside the line: what follows up to the terminator
		// is its tail, never a frame of its own.
		fr, _ := f.end(f.last)
		f.tail, f.hunt = !f.strict(), f.strict()
		return []frame{fr}
	case f.cfg.suffix == SuffixNone || f.overlong > 0:
		fr, ok := f.end(f.last)
		if ok {
			return []frame{fr}
		}
		return nil
	}
	f.paused = true // the next bytes tell a stall from a cut
	return nil
}

// strict reports whether every frame must carry a marker (prefix or AIM
// identifier) that noise is very unlikely to forge.
func (f *framer) strict() bool {
	return f.cfg.prefix != "" || f.cfg.aim == AIMRequired
}

// deadline is when idle would settle the pending state.
func (f *framer) deadline() time.Time { return f.last.Add(f.cfg.gap) }

// binary reports whether c is a byte no code contains.
func (f *framer) binary(c byte) bool {
	if c == stx && len(f.buf) == 0 {
		return false
	}
	if c == '\t' {
		return false // not a terminator here, so part of the code
	}
	return c < 0x20 || c == 0x7f
}

// end closes the current frame at a terminator or idle gap.
func (f *framer) end(at time.Time) (frame, bool) {
	if f.tail {
		f.tail = false
		return frame{}, false
	}
	if f.resync {
		return frame{}, false
	}
	if n := f.overlong; n > 0 {
		f.overlong = 0
		return frame{kind: frameDropped, at: at,
			reason: "over-long frame (" + strconv.Itoa(n) + " bytes, limit " + strconv.Itoa(f.cfg.maxLen) + ")"}, true
	}
	if len(f.buf) == 0 {
		return frame{}, false // the LF of a CRLF, or an empty line
	}
	fr := f.parse(f.buf, at)
	f.buf = f.buf[:0]
	return fr, true
}

// parse turns the bytes of one frame into a code, a no-read or a drop.
func (f *framer) parse(raw []byte, at time.Time) frame {
	b := raw
	if b[0] == stx {
		b = b[1:]
	}
	if !utf8.Valid(b) {
		// The frame ended at a terminator or a gap; after a gap the line
		// is quiet already, and with markers the next frame shows its own.
		f.resync = f.cfg.suffix != SuffixNone && !f.strict()
		return f.drop("line noise (not UTF-8)", raw, at)
	}
	s := string(b)
	if f.isNoRead(s) {
		return frame{kind: frameNoRead, at: at}
	}
	if p := f.cfg.prefix; p != "" {
		if !strings.HasPrefix(s, p) {
			return f.drop("missing prefix "+strconv.Quote(p), raw, at)
		}
		s = s[len(p):]
		if f.isNoRead(s) {
			return frame{kind: frameNoRead, at: at}
		}
	}
	var sym string
	if f.cfg.aim != AIMOff && hasAIM(s) {
		sym, s = s[:3], s[3:]
		if f.isNoRead(s) {
			return frame{kind: frameNoRead, at: at}
		}
	} else if f.cfg.aim == AIMRequired {
		return f.drop("missing AIM symbology identifier", raw, at)
	}
	if len(s) < f.cfg.minLen {
		return f.drop("too short ("+strconv.Itoa(len(s))+" bytes)", raw, at)
	}
	return frame{kind: frameCode, code: s, symbology: sym, at: at}
}

// isNoRead reports whether s is one of the no-read messages.
func (f *framer) isNoRead(s string) bool {
	for _, m := range f.cfg.noRead {
		if s == m {
			return true
		}
	}
	return false
}

// drop makes a dropped frame with a quoted sample of raw for the log.
func (f *framer) drop(reason string, raw []byte, at time.Time) frame {
	const sampleLen = 32
	sample := strconv.Quote(string(raw[:min(len(raw), sampleLen)]))
	if len(raw) > sampleLen {
		sample += "..."
	}
	return frame{kind: frameDropped, reason: reason, sample: sample, at: at}
}

// hasAIM reports whether s starts with an AIM symbology identifier: ']', a
// code character (A-Z, a-z) and a modifier (0-9, A-Z, a-z).
func hasAIM(s string) bool {
	if len(s) < 3 || s[0] != ']' {
		return false
	}
	return isLetter(s[1]) && (isLetter(s[2]) || ('0' <= s[2] && s[2] <= '9'))
}

func isLetter(c byte) bool { return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') }
