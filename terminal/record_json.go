package terminal

import (
	"encoding/binary"
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
//
// The strings of a record read in one pass share one allocation.
func DecodeRedemption(b []byte) (*Redemption, error) {
	r := new(Redemption)
	if err := DecodeRedemptionInto(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeRedemptionInto is DecodeRedemption into *r, which it sets whole (a
// zero Redemption after an error), for a caller that keeps its records in
// storage of its own.
func DecodeRedemptionInto(b []byte, r *Redemption) error {
	*r = Redemption{}
	d := recordDecoder{b: b, defer_: true}
	if d.redemption(r) && d.end() {
		d.strings()
		return nil
	}
	*r = Redemption{}
	if err := json.Unmarshal(b, r); err != nil {
		*r = Redemption{}
		return err
	}
	return nil
}

// recordDecoder reads the form json.Marshal writes; a false result means
// "not that form", never "invalid".
type recordDecoder struct {
	b []byte
	i int
	// defer_ has str note where each string goes (refs) instead of
	// copying it, for strings to make them in one allocation at the end;
	// strings past the first len(refs) are copied at once.
	defer_ bool
	nrefs  int
	refs   [32]strRef
}

// strRef is a string str read: b[start:end], for *p.
type strRef struct {
	p          *string
	start, end int
}

// strings sets the strings str noted, copied from b into one allocation.
func (d *recordDecoder) strings() {
	refs := d.refs[:d.nrefs]
	n := 0
	for _, r := range refs {
		n += r.end - r.start
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, r := range refs {
		sb.Write(d.b[r.start:r.end])
	}
	all := sb.String()
	n = 0
	for _, r := range refs {
		*r.p = all[n : n+r.end-r.start]
		n += r.end - r.start
	}
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
	if d.i < len(d.b) && d.b[d.i] == c { // json.Marshal writes no spaces
		d.i++
		return true
	}
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
	b, start := d.b, d.i
	ascii := true
	for i := start; ; {
		// Eight plain bytes at a time (most of a code or an id), then
		// up to eight one at a time: the one that is not plain among them.
		if i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
			continue
		}
		for end := min(i+8, len(b)); i < end; i++ {
			c := b[i]
			if plain[c] {
				continue
			}
			switch {
			case c == '"':
				d.i = i + 1
				s := b[start:i]
				return s, ascii || utf8.Valid(s)
			case c >= 0x80:
				ascii = false
			default: // an escape or a control character
				return nil, false
			}
		}
		if i == len(b) {
			return nil, false
		}
	}
}

// plain8 reports whether the eight bytes of x are all plain: none below
// 0x20, none 0x80 or above, no quote, no backslash (the bit tricks say
// whether any byte is zero or below a bound, never missing one).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, s := x^('"'*ones), x^('\\'*ones)
	return ((x-0x20*ones)&^x|(q-ones)&^q|(s-ones)&^s|x)&highs == 0
}

// plain marks the bytes a string holds as themselves in the form
// json.Marshal writes: printable ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (d *recordDecoder) str(s *string) bool {
	b, ok := d.raw()
	switch {
	case !ok:
	case d.defer_ && d.nrefs < len(d.refs):
		end := d.i - 1 // before the closing quote
		d.refs[d.nrefs] = strRef{s, end - len(b), end}
		d.nrefs++
	default:
		*s = string(b)
	}
	return ok
}

// count returns the number of elements of the array at d.i, found by a
// look ahead for its commas: a guess only, not a check (the elements are
// read after it), right for any array json.Marshal writes.
func (d *recordDecoder) count() int {
	b, i := d.b, d.i
	commas, depth, some := 0, 0, false
	for ; i < len(b); i++ {
		c := b[i]
		if depth == 1 && !some && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ']' {
			some = true
		}
		switch c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth <= 0 {
				i = len(b)
			}
		case ',':
			if depth == 1 {
				commas++
			}
		}
	}
	if !some {
		return 0
	}
	return commas + 1
}

// maxElems is the most lines or flags a record is read with here; a
// record with more is left to encoding/json.
const maxElems = 256

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

// The keys of a record, a voucher and an item line by index, in the order
// json.Marshal writes them: member looks for the one after the last read
// first. A key in another case, or any other key, is left to encoding/json.
var (
	redemptionObject = newObject("id", "kind", "seq", "terminal_id", "merchant_id", "at", "checkout_id",
		"idempotency_key", "code", "voucher", "items", "total_fen", "eligible_fen", "discount_fen", "payable_fen",
		"flags", "online", "refund_of", "refund_fen", "voucher_share_fen", "voucher_returned")
	voucherObject = newObject("version", "key_id", "id", "holder", "category", "spend_fen", "off_fen",
		"valid_from", "valid_until", "region", "campaign", "round")
	itemObject = newObject("sku", "name", "category", "qty", "unit_price_fen")
)

// jsonObject is the keys of an object the decoder reads: members each
// with its quotes and colon, index each key's place.
type jsonObject struct {
	members []string
	index   map[string]int
}

func newObject(keys ...string) *jsonObject {
	o := &jsonObject{members: make([]string, len(keys)), index: make(map[string]int, len(keys))}
	for i, k := range keys {
		o.members[i], o.index[k] = `"`+k+`":`, i
	}
	return o
}

// object reads an object of o's keys, calling field with the index of
// each member's key once the key is read (-1: not one read here); field
// reads the value and reports whether it could.
func (d *recordDecoder) object(o *jsonObject, field func(k int) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	var seen uint32
	next := 0
	for {
		k := d.member(o, next, &seen)
		next = k + 1
		if !field(k) {
			return false
		}
		more, ok := d.next()
		if !more {
			return ok
		}
	}
}

// member reads an object's next key and its colon, and returns its index:
// at once if it is o's member next (the key json.Marshal writes after the
// last one read), else as key does.
func (d *recordDecoder) member(o *jsonObject, next int, seen *uint32) int {
	if next < len(o.members) && *seen&(1<<next) == 0 {
		if m := o.members[next]; len(d.b)-d.i >= len(m) && string(d.b[d.i:d.i+len(m)]) == m {
			d.i += len(m)
			*seen |= 1 << next
			return next
		}
	}
	return d.key(o, seen)
}

// key reads an object's next key and its colon, and returns its index in
// o, once each (seen); -1 for a key not read here.
func (d *recordDecoder) key(o *jsonObject, seen *uint32) int {
	k, ok := d.raw()
	if !ok || !d.byte(':') {
		return -1
	}
	i, ok := o.index[string(k)]
	if !ok || *seen&(1<<i) != 0 {
		return -1
	}
	*seen |= 1 << i
	return i
}

// next reads what follows an object's member: true with more true at a
// comma, true with more false at the closing brace.
func (d *recordDecoder) next() (more, ok bool) {
	if d.byte(',') {
		return true, true
	}
	return false, d.byte('}')
}

func (d *recordDecoder) redemption(r *Redemption) bool {
	return d.object(redemptionObject, func(k int) (ok bool) {
		switch k {
		case 0:
			ok = d.str(&r.ID)
		case 1:
			ok = d.kind(&r.Kind)
		case 2:
			r.Seq, ok = d.uint(1<<64 - 1)
		case 3:
			ok = d.str(&r.TerminalID)
		case 4:
			ok = d.str(&r.MerchantID)
		case 5:
			ok = d.time(&r.At)
		case 6:
			ok = d.str(&r.CheckoutID)
		case 7:
			ok = d.str(&r.IdempotencyKey)
		case 8:
			ok = d.str(&r.Code)
		case 9:
			ok = d.voucher(&r.Voucher)
		case 10:
			ok = decodeArray(d, &r.Items, d.item)
		case 11:
			ok = d.fen(&r.TotalFen)
		case 12:
			ok = d.fen(&r.EligibleFen)
		case 13:
			ok = d.fen(&r.DiscountFen)
		case 14:
			ok = d.fen(&r.PayableFen)
		case 15:
			ok = decodeArray(d, &r.Flags, d.str)
		case 16:
			ok = d.bool(&r.Online)
		case 17:
			ok = d.str(&r.RefundOf)
		case 18:
			ok = d.fen(&r.RefundFen)
		case 19:
			ok = d.fen(&r.VoucherShareFen)
		case 20:
			ok = d.bool(&r.VoucherReturned)
		}
		return ok
	})
}

// kind reads a record's kind: one of ours without a copy.
func (d *recordDecoder) kind(k *Kind) bool {
	b, ok := d.raw()
	switch {
	case !ok:
		return false
	case string(b) == string(KindRedemption):
		*k = KindRedemption
	case string(b) == string(KindRefund):
		*k = KindRefund
	default:
		*k = Kind(b)
	}
	return true
}

// decodeArray reads an array (null: none) into a slice of its number of
// elements, each read by elem: a record's lines and flags.
func decodeArray[T any](d *recordDecoder, out *[]T, elem func(*T) bool) bool {
	if d.null() {
		*out = nil
		return true
	}
	n := d.count()
	if n > maxElems || !d.byte('[') {
		return false
	}
	*out = make([]T, n)
	for i := range *out {
		if i > 0 && !d.byte(',') || !elem(&(*out)[i]) {
			return false
		}
	}
	return d.byte(']')
}

func (d *recordDecoder) voucher(v *Voucher) bool {
	return d.object(voucherObject, func(k int) (ok bool) {
		var n uint64
		switch k {
		case 0:
			n, ok = d.uint(0xff)
			v.Version = uint8(n)
		case 1:
			n, ok = d.hex(0xffffffff)
			v.KeyID = KeyID(n)
		case 2:
			n, ok = d.hex(1<<64 - 1)
			v.ID = VoucherID(n)
		case 3:
			n, ok = d.hex(1<<64 - 1)
			v.Holder = HolderID(n)
		case 4:
			ok = d.category(&v.Category)
		case 5:
			ok = d.fen(&v.SpendFen)
		case 6:
			ok = d.fen(&v.OffFen)
		case 7:
			ok = d.time(&v.ValidFrom)
		case 8:
			ok = d.time(&v.ValidUntil)
		case 9:
			n, ok = d.uint(0xffffffff)
			v.Region = uint32(n)
		case 10:
			n, ok = d.uint(0xffffffff)
			v.Campaign = uint32(n)
		case 11:
			n, ok = d.uint(0xff)
			v.Round = uint8(n)
		}
		return ok
	})
}

// hex reads a string of 1 to 16 hex digits of a value at most max, as
// the UnmarshalText of VoucherID, HolderID and KeyID reads it.
func (d *recordDecoder) hex(max uint64) (uint64, bool) {
	b, ok := d.raw()
	if !ok || len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, n <= max
}

// category reads a category code as Category.UnmarshalText does.
func (d *recordDecoder) category(c *Category) bool {
	b, ok := d.raw()
	if !ok {
		return false
	}
	for i, code := range categoryCodes {
		if code == string(b) { // "" is the zero category
			*c = Category(i)
			return true
		}
	}
	return false
}

func (d *recordDecoder) item(it *Item) bool {
	return d.object(itemObject, func(k int) (ok bool) {
		switch k {
		case 0:
			ok = d.str(&it.SKU)
		case 1:
			ok = d.str(&it.Name)
		case 2:
			ok = d.str(&it.Category)
		case 3:
			ok = d.int(&it.Qty)
		case 4:
			ok = d.fen(&it.UnitPriceFen)
		}
		return ok
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
			return d.kind(&kind)
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
