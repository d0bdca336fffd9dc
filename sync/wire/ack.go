package wire

import (
	"bytes"
	"unicode/utf8"

	"github.com/voucherpos/voucherpos/terminal"
)

// decodeAck reads an ack in the one form the server writes it
// (encoding/json of Message, compact): {"type":"ack"} followed by
// "watermark", "upto" and "outcomes" in that order, each optional, the
// outcomes {"seq":…,"result":…} with "code" and "detail" optional, no
// space, numbers plain unsigned integers within uint64, strings without
// escapes, control characters or invalid UTF-8. It reads a terminal's
// hundred thousand outcomes in a drain about ten times faster than
// encoding/json. Anything else (ok false) is left to encoding/json: what
// it reads, it reads to the Message json.Unmarshal gives (FuzzDecodeAck).
func decodeAck(b []byte) (m *Message, ok bool) {
	const head = `{"type":"ack"`
	if !bytes.HasPrefix(b, []byte(head)) {
		return nil, false
	}
	d := ackDecoder{b: b, i: len(head)}
	m = &Message{Type: TypeAck}
	if d.key(`watermark`) {
		if m.Watermark, ok = d.uint(); !ok {
			return nil, false
		}
	}
	if d.key(`upto`) {
		if m.Upto, ok = d.uint(); !ok {
			return nil, false
		}
	}
	if d.key(`outcomes`) {
		if m.Outcomes, ok = d.outcomes(); !ok {
			return nil, false
		}
	}
	if !d.byte('}') || d.i != len(d.b) {
		return nil, false
	}
	return m, true
}

// ackDecoder reads b from i; every method that fails leaves the input to
// encoding/json, so none needs to say why.
type ackDecoder struct {
	b []byte
	i int
}

// byte reads c.
func (d *ackDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// key reads `,"name":` if it is next.
func (d *ackDecoder) key(name string) bool {
	rest := d.b[d.i:]
	n := len(name)
	if len(rest) < n+4 || rest[0] != ',' || rest[1] != '"' || string(rest[2:2+n]) != name || rest[2+n] != '"' || rest[3+n] != ':' {
		return false
	}
	d.i += n + 4
	return true
}

// uint reads an unsigned integer without a leading zero that fits in a uint64.
func (d *ackDecoder) uint() (uint64, bool) {
	start := d.i
	var v uint64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		c := uint64(d.b[d.i] - '0')
		if v > (^uint64(0)-c)/10 {
			return 0, false
		}
		v = v*10 + c
		d.i++
	}
	n := d.i - start
	return v, n == 1 || (n > 1 && d.b[start] != '0')
}

// str reads a string that needs no unquoting: no escape, no control
// character, valid UTF-8.
func (d *ackDecoder) str() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start, ascii := d.i, true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// outcomes reads the array of outcomes (not null).
func (d *ackDecoder) outcomes() ([]terminal.Outcome, bool) {
	if !d.byte('[') {
		return nil, false
	}
	out := make([]terminal.Outcome, 0, bytes.Count(d.b[d.i:], []byte(`{"seq":`)))
	if d.byte(']') {
		return out, true
	}
	for {
		var o terminal.Outcome
		var ok bool
		if !d.lit(`{"seq":`) {
			return nil, false
		}
		if o.Seq, ok = d.uint(); !ok || !d.key(`result`) {
			return nil, false
		}
		if o.Result, ok = d.result(); !ok {
			return nil, false
		}
		if d.key(`code`) {
			s, ok := d.str()
			if !ok {
				return nil, false
			}
			o.Code = terminal.Code(s)
		}
		if d.key(`detail`) {
			s, ok := d.str()
			if !ok {
				return nil, false
			}
			o.Detail = string(s)
		}
		if !d.byte('}') {
			return nil, false
		}
		out = append(out, o)
		if d.byte(']') {
			return out, true
		}
		if !d.byte(',') {
			return nil, false
		}
	}
}

// lit reads s.
func (d *ackDecoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// result reads a result, the three the server sends without allocating.
func (d *ackDecoder) result() (terminal.Result, bool) {
	s, ok := d.str()
	if !ok {
		return "", false
	}
	for _, r := range []terminal.Result{terminal.Accepted, terminal.Duplicate, terminal.Conflict} {
		if string(s) == string(r) {
			return r, true
		}
	}
	return terminal.Result(s), true
}
