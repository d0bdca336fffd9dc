package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// errBody is returned for a record body that is not the JSON the hub reads.
var errBody = errors.New("record body is not valid JSON of a record")

// maxDepth bounds the nesting of skipped JSON values.
const maxDepth = 64

// parseBody reads the fields of recMeta from a record body (JSON of
// terminal.Redemption) in one pass, checking the JSON syntax of the whole
// body as it goes. It is several times cheaper than encoding/json on the
// sync path, where every record is read once. Keys match exactly (the
// terminal writes them with encoding/json); unknown keys are skipped.
func parseBody(b []byte, m *recMeta) error {
	*m = recMeta{}
	p := &parser{b: b}
	p.object(func(key []byte) {
		switch string(key) {
		case "kind":
			m.Kind = terminal.Kind(p.str())
		case "seq":
			m.Seq = p.uint()
		case "terminal_id":
			m.TerminalID = p.str()
		case "merchant_id":
			m.MerchantID = p.str()
		case "at":
			if s := p.str(); p.err == nil && s != "" {
				t, err := time.Parse(time.RFC3339Nano, s)
				p.fail(err)
				m.At = t
			}
		case "code":
			m.Code = p.str()
		case "voucher":
			p.object(func(key []byte) {
				switch string(key) {
				case "id":
					p.fail(m.Voucher.ID.UnmarshalText(p.text()))
				case "category":
					p.fail(m.Voucher.Category.UnmarshalText(p.text()))
				case "off_fen":
					m.Voucher.OffFen = terminal.Fen(p.int())
				default:
					p.skip(1)
				}
			})
		case "total_fen":
			m.TotalFen = terminal.Fen(p.int())
		case "eligible_fen":
			m.EligibleFen = terminal.Fen(p.int())
		case "discount_fen":
			m.DiscountFen = terminal.Fen(p.int())
		case "payable_fen":
			m.PayableFen = terminal.Fen(p.int())
		case "refund_of":
			m.RefundOf = p.str()
		case "refund_fen":
			m.RefundFen = terminal.Fen(p.int())
		case "voucher_share_fen":
			m.VoucherShareFen = terminal.Fen(p.int())
		case "voucher_returned":
			m.VoucherReturned = p.bool()
		default:
			p.skip(1)
		}
	})
	p.ws()
	if p.err == nil && p.i != len(p.b) {
		p.fail(fmt.Errorf("trailing data at byte %d", p.i))
	}
	if p.err != nil {
		return fmt.Errorf("%w: %v", errBody, p.err)
	}
	return nil
}

// parser is a one-pass JSON reader with a sticky error; it never indexes
// outside b.
type parser struct {
	b   []byte
	i   int
	err error
}

func (p *parser) fail(err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
}

func (p *parser) failf(format string, args ...any) {
	p.fail(fmt.Errorf(format+" at byte %d", append(args, p.i)...))
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next returns the next non-space byte without consuming it, or 0 at the end.
func (p *parser) next() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *parser) expect(c byte) {
	if p.err != nil {
		return
	}
	if p.next() != c {
		p.failf("want %q", c)
		return
	}
	p.i++
}

// object reads {"key": value, ...}, calling field for each key with the
// parser at the value; field must consume the value. The key is valid
// only during the call.
func (p *parser) object(field func(key []byte)) {
	p.expect('{')
	if p.err != nil {
		return
	}
	if p.next() == '}' {
		p.i++
		return
	}
	for p.err == nil {
		key := p.text()
		p.expect(':')
		if p.err != nil {
			return
		}
		field(key)
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return
		default:
			p.failf("want , or }")
		}
	}
}

// null consumes a null and reports whether there was one.
func (p *parser) null() bool {
	if p.err == nil && p.next() == 'n' {
		p.literal("null")
		return true
	}
	return false
}

func (p *parser) literal(lit string) {
	if p.i+len(lit) > len(p.b) || string(p.b[p.i:p.i+len(lit)]) != lit {
		p.failf("want %s", lit)
		return
	}
	p.i += len(lit)
}

// str reads a string (or null, as "").
func (p *parser) str() string { return string(p.text()) }

// text reads a string (or null, as nil) and returns its contents without
// copying them when they have no escapes: then the slice aliases b.
func (p *parser) text() []byte {
	if p.err != nil || p.null() {
		return nil
	}
	if p.next() != '"' {
		p.failf("want a string")
		return nil
	}
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !escaped {
				return p.b[start+1 : p.i-1]
			}
			var s string
			p.fail(json.Unmarshal(p.b[start:p.i], &s))
			return []byte(s)
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			p.failf("control character in string")
			return nil
		default:
			p.i++
		}
	}
	p.failf("unterminated string")
	return nil
}

// number consumes a JSON number and returns its text, aliasing b.
func (p *parser) number() []byte {
	if p.err != nil {
		return nil
	}
	p.ws()
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	if n := digits(); n == 0 || (n > 1 && p.b[p.i-n] == '0') {
		p.failf("bad number")
		return nil
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			p.failf("bad number")
			return nil
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.failf("bad number")
			return nil
		}
	}
	return p.b[start:p.i]
}

func (p *parser) int() int64 {
	if p.err != nil || p.null() {
		return 0
	}
	v, err := strconv.ParseInt(string(p.number()), 10, 64)
	if p.err == nil {
		p.fail(err)
	}
	return v
}

func (p *parser) uint() uint64 {
	if p.err != nil || p.null() {
		return 0
	}
	v, err := strconv.ParseUint(string(p.number()), 10, 64)
	if p.err == nil {
		p.fail(err)
	}
	return v
}

func (p *parser) bool() bool {
	if p.err != nil || p.null() {
		return false
	}
	switch p.next() {
	case 't':
		p.literal("true")
		return true
	case 'f':
		p.literal("false")
	default:
		p.failf("want true or false")
	}
	return false
}

// skip consumes any value, checking its syntax.
func (p *parser) skip(depth int) {
	if p.err != nil {
		return
	}
	if depth > maxDepth {
		p.failf("nested too deep")
		return
	}
	switch c := p.next(); {
	case c == '"':
		p.text()
	case c == '{':
		p.object(func([]byte) { p.skip(depth + 1) })
	case c == '[':
		p.i++
		if p.next() == ']' {
			p.i++
			return
		}
		for p.err == nil {
			p.skip(depth + 1)
			switch p.next() {
			case ',':
				p.i++
			case ']':
				p.i++
				return
			default:
				p.failf("want , or ]")
			}
		}
	case c == 't':
		p.literal("true")
	case c == 'f':
		p.literal("false")
	case c == 'n':
		p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		p.number()
	default:
		p.failf("want a value")
	}
}
