package terminal

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// DecodeRedemption decodes a record body, the JSON of a Redemption, exactly
// as json.Unmarshal into a zero Redemption does (same record, error or not).
// The body a ledger writes (json.Marshal: known keys, each once, no escapes)
// is read in one pass by a decoder of that form, several times cheaper than
// encoding/json on the server's sync path, where every record is read once;
// anything else (an escape, an unknown or repeated key, a null, a number
// out of range, invalid UTF-8) is left to json.Unmarshal.
func DecodeRedemption(b []byte) (*Redemption, error) {
	r := new(Redemption)
	d := recordDecoder{b: b}
	if d.redemption(r) && d.end() {
		return r, nil
	}
	*r = Redemption{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// recordDecoder reads the form json.Marshal writes; a false result means
// "not that form", never "invalid".
type recordDecoder struct {
	b []byte
	i int
}

func (d *recordDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *recordDecoder) byte(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *recordDecoder) end() bool { d.ws(); return d.i == len(d.b) }

// raw returns a string's bytes without its quotes: no escapes, no control
// characters, valid UTF-8.
func (d *recordDecoder) raw() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

func (d *recordDecoder) str(s *string) bool {
	b, ok := d.raw()
	if ok {
		*s = string(b)
	}
	return ok
}

func (d *recordDecoder) text(u interface{ UnmarshalText([]byte) error }) bool {
	b, ok := d.raw()
	return ok && u.UnmarshalText(b) == nil
}

func (d *recordDecoder) time(t *time.Time) bool {
	d.ws()
	start := d.i
	if _, ok := d.raw(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

// uint reads a JSON integer without sign, fraction or exponent, at most max.
func (d *recordDecoder) uint(max uint64) (uint64, bool) {
	d.ws()
	start := d.i
	var n uint64
	for ; d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9'; d.i++ {
		c := uint64(d.b[d.i] - '0')
		if n > (max-c)/10 {
			return 0, false
		}
		n = n*10 + c
	}
	digits := d.i - start
	if digits == 0 || digits > 1 && d.b[start] == '0' {
		return 0, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

func (d *recordDecoder) int(v *int64) bool {
	neg := d.byte('-')
	if neg && d.i < len(d.b) && (d.b[d.i] < '0' || d.b[d.i] > '9') {
		return false
	}
	n, ok := d.uint(1<<63 - 1)
	if neg {
		*v = -int64(n)
	} else {
		*v = int64(n)
	}
	return ok
}

func (d *recordDecoder) fen(v *Fen) bool { return d.int((*int64)(v)) }

func (d *recordDecoder) bool(v *bool) bool {
	d.ws()
	switch {
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		*v, d.i = true, d.i+4
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		*v, d.i = false, d.i+5
	default:
		return false
	}
	return true
}

func (d *recordDecoder) null() bool {
	d.ws()
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object reads an object whose keys are among keys, each at most once,
// calling field with the key's index to read its value.
func (d *recordDecoder) object(keys []string, field func(int) bool) bool {
	var seen uint64
	return d.members(func(k []byte) bool {
		i := index(keys, k)
		if i < 0 || seen&(1<<i) != 0 || !field(i) {
			return false
		}
		seen |= 1 << i
		return true
	})
}

// members reads an object, calling value with each key (no escapes) to
// read the key's value.
func (d *recordDecoder) members(value func(key []byte) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	for {
		k, ok := d.raw()
		if !ok || !d.byte(':') || !value(k) {
			return false
		}
		if d.byte('}') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

func index(keys []string, k []byte) int {
	for i, s := range keys {
		if s == string(k) {
			return i
		}
	}
	return -1
}

// array reads an array (null: none), calling elem for each element.
func (d *recordDecoder) array(null func(), elem func() bool) bool {
	if d.null() {
		null()
		return true
	}
	if !d.byte('[') {
		return false
	}
	if d.byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.byte(']') {
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

var redemptionKeys = []string{"id", "kind", "seq", "terminal_id", "merchant_id", "at", "checkout_id",
	"idempotency_key", "code", "voucher", "items", "total_fen", "eligible_fen", "discount_fen", "payable_fen",
	"flags", "online", "refund_of", "refund_fen", "voucher_share_fen", "voucher_returned"}

func (d *recordDecoder) redemption(r *Redemption) bool {
	return d.object(redemptionKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&r.ID)
		case 1:
			return d.str((*string)(&r.Kind))
		case 2:
			n, ok := d.uint(1<<64 - 1)
			r.Seq = n
			return ok
		case 3:
			return d.str(&r.TerminalID)
		case 4:
			return d.str(&r.MerchantID)
		case 5:
			return d.time(&r.At)
		case 6:
			return d.str(&r.CheckoutID)
		case 7:
			return d.str(&r.IdempotencyKey)
		case 8:
			return d.str(&r.Code)
		case 9:
			return d.voucher(&r.Voucher)
		case 10:
			r.Items = []Item{}
			return d.array(func() { r.Items = nil }, func() bool {
				r.Items = append(r.Items, Item{})
				return d.item(&r.Items[len(r.Items)-1])
			})
		case 11:
			return d.fen(&r.TotalFen)
		case 12:
			return d.fen(&r.EligibleFen)
		case 13:
			return d.fen(&r.DiscountFen)
		case 14:
			return d.fen(&r.PayableFen)
		case 15:
			r.Flags = []string{}
			return d.array(func() { r.Flags = nil }, func() bool {
				r.Flags = append(r.Flags, "")
				return d.str(&r.Flags[len(r.Flags)-1])
			})
		case 16:
			return d.bool(&r.Online)
		case 17:
			return d.str(&r.RefundOf)
		case 18:
			return d.fen(&r.RefundFen)
		case 19:
			return d.fen(&r.VoucherShareFen)
		default:
			return d.bool(&r.VoucherReturned)
		}
	})
}

var voucherKeys = []string{"version", "key_id", "id", "holder", "category", "spend_fen", "off_fen",
	"valid_from", "valid_until", "region", "campaign", "round"}

func (d *recordDecoder) voucher(v *Voucher) bool {
	return d.object(voucherKeys, func(i int) bool {
		var n uint64
		ok := true
		switch i {
		case 0:
			n, ok = d.uint(0xff)
			v.Version = uint8(n)
		case 1:
			return d.text(&v.KeyID)
		case 2:
			return d.text(&v.ID)
		case 3:
			return d.text(&v.Holder)
		case 4:
			return d.text(&v.Category)
		case 5:
			return d.fen(&v.SpendFen)
		case 6:
			return d.fen(&v.OffFen)
		case 7:
			return d.time(&v.ValidFrom)
		case 8:
			return d.time(&v.ValidUntil)
		case 9:
			n, ok = d.uint(0xffffffff)
			v.Region = uint32(n)
		case 10:
			n, ok = d.uint(0xffffffff)
			v.Campaign = uint32(n)
		default:
			n, ok = d.uint(0xff)
			v.Round = uint8(n)
		}
		return ok
	})
}

var itemKeys = []string{"sku", "name", "category", "qty", "unit_price_fen"}

func (d *recordDecoder) item(it *Item) bool {
	return d.object(itemKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&it.SKU)
		case 1:
			return d.str(&it.Name)
		case 2:
			return d.str(&it.Category)
		case 3:
			return d.int(&it.Qty)
		default:
			return d.fen(&it.UnitPriceFen)
		}
	})
}

// KindAndDiscount reads only a record body's kind and discount_fen, as
// json.Unmarshal reads them into a struct of those two fields, for the
// body a ledger writes: ok false means "not that form" (an escape, a key
// of ours in another case or twice, a value of another type, nesting
// deeper than a record's), and the caller reads it with encoding/json. A
// terminal's ack reads the kind and discount of every record it
// acknowledges; decoding the whole record was most of the ack's time.
func KindAndDiscount(b []byte) (kind Kind, discount Fen, ok bool) {
	d := recordDecoder{b: b}
	var seenKind, seenDiscount bool
	ok = d.members(func(k []byte) bool {
		switch {
		case string(k) == "kind":
			if seenKind {
				return false
			}
			seenKind = true
			return d.str((*string)(&kind))
		case string(k) == "discount_fen":
			if seenDiscount {
				return false
			}
			seenDiscount = true
			return d.fen(&discount)
		case foldsTo(k, "kind") || foldsTo(k, "discount_fen"):
			return false // encoding/json matches keys in any case
		}
		return d.skip(0)
	}) && d.end()
	if !ok {
		return "", 0, false
	}
	return kind, discount, true
}

// foldsTo reports whether key might match name in encoding/json's
// case-insensitive matching: equal but for case, or not ASCII at all (the
// Kelvin sign folds to k, the long s to s).
func foldsTo(key []byte, name string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return true
		}
	}
	return strings.EqualFold(string(key), name)
}

// maxSkipDepth is the deepest nesting skip follows (a record nests three deep).
const maxSkipDepth = 16

// skip passes over one JSON value of the form json.Marshal writes.
func (d *recordDecoder) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{':
		return d.members(func([]byte) bool { return d.skip(depth + 1) })
	case c == '[':
		return d.array(func() {}, func() bool { return d.skip(depth + 1) })
	case c == 't' || c == 'f':
		var v bool
		return d.bool(&v)
	case c == 'n':
		return d.null()
	default:
		return d.number()
	}
}

// skipString passes over a string as encoding/json's scanner does: any
// byte but a control character, and escapes of its grammar.
func (d *recordDecoder) skipString() bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	for i := d.i + 1; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(d.b) {
				return false
			}
			switch d.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d.b) {
					return false
				}
				for _, h := range d.b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

// number passes over a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *recordDecoder) number() bool {
	b, i := d.b, d.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	d.i = i
	return true
}
