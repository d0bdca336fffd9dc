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
// those is line noise: the frame is dropped and everything up to the next
// idle gap with it, since after noise the frame boundaries cannot be trusted
// and a printable run of noise could pass for a code. When every frame must
// carry a prefix or an AIM identifier, such runs are rejected anyway, so the
// framer resynchronises at the next terminator instead (it does not depend
// on seeing the gap, which a reader that fell behind cannot). Frames longer
// than maxLen are dropped when they end.
type framer struct {
	cfg      framerConfig
	buf      []byte
	last     time.Time // arrival of the last byte seen
	resync   bool      // discarding until an idle gap (or terminator), after noise
	overlong int       // bytes of an over-long frame discarded so far, or 0
}

// newFramer returns a framer for cfg; cfg must have its defaults applied.
func newFramer(cfg framerConfig) *framer {
	return &framer{cfg: cfg, buf: make([]byte, 0, 256)}
}

// pending reports whether the framer holds bytes or state an idle gap would
// settle.
func (f *framer) pending() bool {
	return len(f.buf) > 0 || f.resync || f.overlong > 0
}

// reset forgets any partial frame, as after a disconnect.
func (f *framer) reset() {
	f.buf, f.resync, f.overlong = f.buf[:0], false, 0
}

// push adds bytes that arrived at time at and returns the frames they end.
func (f *framer) push(p []byte, at time.Time) []frame {
	var out []frame
	f.last = at
	for _, c := range p {
		switch {
		case f.cfg.suffix.terminator(c):
			if fr, ok := f.end(at); ok {
				out = append(out, fr)
			}
			if f.resync && f.strict() {
				f.resync = false
			}
		case f.resync:
		case f.overlong > 0:
			f.overlong++
		case f.binary(c):
			out = append(out, f.drop("line noise (control byte)", append(f.buf, c), at))
			f.buf, f.resync = f.buf[:0], true
		case len(f.buf) >= f.cfg.maxLen:
			f.overlong, f.buf = len(f.buf)+1, f.buf[:0]
		default:
			f.buf = append(f.buf, c)
		}
	}
	return out
}

// idle tells the framer the time is now; if the line has been quiet for the
// idle gap it settles what it holds and returns the frame, if any.
func (f *framer) idle(now time.Time) []frame {
	if !f.pending() || now.Sub(f.last) < f.cfg.gap {
		return nil
	}
	if f.resync {
		f.reset()
		return nil
	}
	if f.cfg.suffix == SuffixNone || f.overlong > 0 {
		fr, ok := f.end(f.last)
		f.resync = false // the line is quiet already: nothing to resynchronise
		if ok {
			return []frame{fr}
		}
		return nil
	}
	fr := f.drop("unterminated frame (no suffix before the line went quiet)", f.buf, f.last)
	f.reset()
	return []frame{fr}
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
		f.resync = true
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
