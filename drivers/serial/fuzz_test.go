package serial

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzFramer feeds the framer arbitrary bytes in arbitrary chunks, under a
// suffix chosen by the input, and checks that it never panics, that every
// code it emits could have been a code (UTF-8, no control or terminator
// bytes, within the length limits), and that after the line goes quiet a
// well-formed frame reads back exactly (round trip).
func FuzzFramer(f *testing.F) {
	f.Add([]byte("]Q1VC1:ABC\r\n"), uint8(4), uint8(3))               // Honeywell CRLF + AIM
	f.Add([]byte("VC1:ZEBRA DATA AS IS"), uint8(1), uint8(7))         // no suffix, idle gap
	f.Add([]byte("\x02VC1:STX\x03\x02NR\x03"), uint8(6), uint8(2))    // STX/ETX and a no-read
	f.Add([]byte("\x00\xff\x13A7\r\nVC1:X\r\n"), uint8(4), uint8(1))  // noise, then text
	f.Add([]byte("\r\n\n\rVC1:MIX\n\r"), uint8(2), uint8(5))          // CR/LF mixtures
	f.Add([]byte(strings.Repeat("A", 300)+"\r"), uint8(2), uint8(9))  // over-long
	f.Add([]byte("]Q1凭证\xc3\x28\t%%NoRead\t"), uint8(5), uint8(4))    // UTF-8, bad UTF-8, TAB
	f.Add([]byte("\x00\x13]Q]x]Q1VC1:GLUED\r\n"), uint8(4), uint8(1)) // noise glued to a code, fake AIMs
	f.Add([]byte("\x02\x05]Q\x02]Q1VC1:STX\x03"), uint8(6), uint8(4)) // noise inside STX framing
	f.Add([]byte("]Q1"+strings.Repeat("B", 90)), uint8(2), uint8(20)) // over-long, cut by a pause
	f.Add([]byte(strings.Repeat("C", 70)+"\x00]Q1VC1:Z\r"), uint8(1), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, suffixSel, chunkSel uint8) {
		suffix := Suffix(1 + int(suffixSel)%6)
		cfg := framerConfig{suffix: suffix, aim: AIMMode(int(chunkSel) % 3), maxLen: 64, minLen: 2,
			gap: 10 * time.Millisecond, noRead: defaultNoRead}
		fr := newFramer(cfg)
		now := time.Unix(0, 0)
		chunk := 1 + int(chunkSel)%17
		var out []frame
		for i := 0; i < len(data); i += chunk {
			out = append(out, fr.push(data[i:min(i+chunk, len(data))], now)...)
			now = now.Add(time.Duration(chunkSel%5) * time.Millisecond)
			out = append(out, fr.idle(now)...)
		}
		for _, fm := range out {
			checkCode(t, cfg, fm)
		}
		// Round trip: after a quiet gap, a well-formed frame reads back;
		// the rest of an over-long line the gap cut first needs its end.
		now = now.Add(cfg.gap)
		fr.idle(now)
		want := "VC1:ROUND TRIP-" + string(rune('A'+len(data)%26))
		frameBytes := []byte("]Q1" + want)
		// So does a frame the gap paused when no marker can tell a new
		// frame from its continuation (AIM off, no prefix, no STX).
		var ended []frame
		if fr.tail || (fr.paused && cfg.aim == AIMOff && suffix != SuffixETX) {
			ended = fr.push([]byte{'\r'}, now)
			now = now.Add(cfg.gap)
			ended = append(ended, fr.idle(now)...)
		}
		switch suffix {
		case SuffixCR:
			frameBytes = append(frameBytes, '\r')
		case SuffixLF:
			frameBytes = append(frameBytes, '\n')
		case SuffixCRLF:
			frameBytes = append(frameBytes, "\r\n"...)
		case SuffixTAB:
			frameBytes = append(frameBytes, '\t')
		case SuffixETX:
			frameBytes = append(append([]byte{stx}, frameBytes...), etx)
		}
		out = ended
		for i := 0; i < len(frameBytes); i += chunk {
			out = append(out, fr.push(frameBytes[i:min(i+chunk, len(frameBytes))], now)...)
		}
		out = append(out, fr.idle(now.Add(cfg.gap))...)
		wantCode, wantSym := want, "]Q1"
		if cfg.aim == AIMOff {
			wantCode, wantSym = "]Q1"+want, ""
		}
		// A frame the gap left open is dropped when the new one begins.
		var codes []frame
		for _, fm := range out {
			if fm.kind != frameDropped {
				codes = append(codes, fm)
			}
		}
		// The paused line, ended, may read as a code of its own first.
		if len(codes) > 0 && fr.cfg.aim == AIMOff {
			codes = codes[len(codes)-1:]
		}
		if len(codes) != 1 || codes[0].kind != frameCode || codes[0].code != wantCode || codes[0].symbology != wantSym {
			t.Fatalf("round trip after %q: got %+v, want code %q", data, out, wantCode)
		}
	})
}

// checkCode fails if a code frame carries what no code may.
func checkCode(t *testing.T, cfg framerConfig, fm frame) {
	t.Helper()
	if fm.kind != frameCode {
		return
	}
	c := fm.code
	if !utf8.ValidString(c) || len(c) < cfg.minLen || len(c) > cfg.maxLen {
		t.Fatalf("code %q: bad UTF-8 or length", c)
	}
	for i := 0; i < len(c); i++ {
		if cfg.suffix.terminator(c[i]) || (c[i] < 0x20 && c[i] != '\t') || c[i] == 0x7f {
			t.Fatalf("code %q holds byte %#x", c, c[i])
		}
	}
	if fm.symbology != "" && !hasAIM(fm.symbology) {
		t.Fatalf("symbology %q", fm.symbology)
	}
}
