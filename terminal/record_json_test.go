package terminal

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// sampleRecords are bodies as ledgers write them: a sale, a refund, a
// record with no lines, escapes in strings (left to encoding/json).
func sampleRecords(tb testing.TB) [][]byte {
	at := time.Date(2022, 10, 1, 12, 0, 0, 123456789, Zone)
	v := Voucher{Version: 1, KeyID: 0x11223344, ID: 0x1122334455667788, Holder: 0xABC, Category: Retail, SpendFen: 20000,
		OffFen: 4000, ValidFrom: at.Truncate(time.Second), ValidUntil: at.Add(24 * time.Hour).Truncate(time.Second), Region: 140521, Campaign: 7, Round: 2}
	sale := Redemption{ID: "T1-0000000007", Kind: KindRedemption, Seq: 7, TerminalID: "T1", MerchantID: "M1", At: at,
		CheckoutID: "C1", IdempotencyKey: "k-1", Code: "VC1:ABCDEF", Voucher: v,
		Items:    []Item{{SKU: "rice-5kg", Name: "大米 5kg", Category: "grocery", Qty: 2, UnitPriceFen: 13000}, {SKU: "oil", Name: "油", Category: "grocery", Qty: -1, UnitPriceFen: 5990}},
		TotalFen: 26000, EligibleFen: 26000, DiscountFen: 4000, PayableFen: 22000, Flags: []string{"linked: T1-0000000006"}, Online: true}
	refund := sale
	refund.Kind, refund.ID, refund.Seq, refund.RefundOf, refund.RefundFen, refund.VoucherShareFen, refund.VoucherReturned =
		KindRefund, "T1-0000000008", 8, "T1-0000000007", 1000, 300, true
	empty := Redemption{Kind: KindRedemption, Items: []Item{}}
	escaped := sale
	escaped.CheckoutID = "C\"1<>\n"
	var out [][]byte
	for _, r := range []Redemption{sale, refund, empty, {}, escaped} {
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestDecodeRedemption_FastPath: what a ledger writes is read by the
// one-pass decoder (escapes excepted), to the record encoding/json reads.
func TestDecodeRedemption_FastPath(t *testing.T) {
	for i, b := range sampleRecords(t) {
		var want Redemption
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		var got Redemption
		d := recordDecoder{b: b}
		fast := d.redemption(&got) && d.end()
		if escaped := i == 4; fast == escaped {
			t.Errorf("%s: fast path %v", b, fast)
		}
		if fast && !reflect.DeepEqual(&got, &want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", b, got, want)
		}
		r, err := DecodeRedemption(b)
		if err != nil || !reflect.DeepEqual(r, &want) {
			t.Errorf("%s: DecodeRedemption %+v, %v", b, r, err)
		}
	}
}

// TestDecodeRedemption_Copies: a decoded record keeps nothing of the
// body it was read from: the server reads the next message into the same
// buffer once a batch is committed, while records decoded from it may
// still be referred to.
func TestDecodeRedemption_Copies(t *testing.T) {
	bodies := sampleRecords(t)
	bodies = append(bodies, []byte(`{"id":"a","items":[{"sku":"a,]}","qty":1},{},{"name":"[x]"}],"flags":["x,y","[",""]}`))
	for _, b := range bodies {
		var want Redemption
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRedemption(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = 'X'
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("after the body was overwritten:\ngot  %+v\nwant %+v", *got, want)
		}
	}
}

// FuzzDecodeRedemption: any input decodes to what json.Unmarshal gives a
// zero Redemption, error for error, and never panics.
func FuzzDecodeRedemption(f *testing.F) {
	for _, b := range sampleRecords(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"seq":01}`))                                                       // leading zero
	f.Add([]byte(`{"seq":1,"seq":2}`))                                                // repeated key
	f.Add([]byte(`{"SEQ":3,"Kind":"refund"}`))                                        // keys in another case
	f.Add([]byte(`{"seq":-1,"total_fen":1e3,"voucher":{"version":256}}`))             // out of range
	f.Add([]byte(`{"items":null,"flags":[],"voucher":null,"at":null}`))               // nulls
	f.Add([]byte(`{"code":"\xff","at":"2022-10-01T12:00:00+08:00","x":[1,{"y":2}]}`)) // invalid UTF-8, unknown key
	f.Add([]byte(`{"voucher":{"id":"zz","holder":"1","category":"nope"}} x`))         // bad text, trailing data
	f.Add([]byte(`{"items":[{"sku":"a,]}","qty":1},{}],"flags":["x,y","[",""]}`))     // commas and brackets in strings
	f.Add([]byte(`{"items":[1,[2,3]],"flags":[ ],"items":[]}`))                       // elements of another type
	dirty, err := DecodeRedemption(sampleRecords(f)[1])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want Redemption
		werr := json.Unmarshal(b, &want)
		got, err := DecodeRedemption(b)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, encoding/json %v", b, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, &want) {
			t.Fatalf("%q:\ngot  %+v\nwant %+v", b, *got, want)
		}
		// Into a record that holds another: the same record, or a zero one.
		into := *dirty
		into.Items, into.Flags = slices.Clone(dirty.Items), slices.Clone(dirty.Flags)
		ierr := DecodeRedemptionInto(b, &into)
		switch {
		case (ierr != nil) != (err != nil):
			t.Fatalf("%q: into a used record: error %v, fresh %v", b, ierr, err)
		case err == nil && !reflect.DeepEqual(&into, got):
			t.Fatalf("%q: into a used record:\ngot  %+v\nwant %+v", b, into, *got)
		case err != nil && !reflect.DeepEqual(into, Redemption{}):
			t.Fatalf("%q: into a used record after an error: %+v, want a zero record", b, into)
		}
	})
}

// BenchmarkDecodeRedemption decodes a ledger's record body, and in the
// same loop with encoding/json: x-json is the ratio of the two times.
func BenchmarkDecodeRedemption(b *testing.B) {
	body := sampleRecords(b)[0]
	var fast, std time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := DecodeRedemption(body); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var r Redemption
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
		fast, std = fast+t1.Sub(t0), std+time.Since(t1)
	}
	b.ReportMetric(float64(fast.Nanoseconds())/float64(b.N), "decode-ns/op")
	b.ReportMetric(float64(std.Nanoseconds())/float64(b.N), "json-ns/op")
	b.ReportMetric(float64(fast)/float64(std), "x-json")
}

// FuzzKindAndDiscount: whenever KindAndDiscount reads a body, encoding/json
// reads the same kind and discount from it without error; it reads every
// ledger's record body itself; it never panics.
func FuzzKindAndDiscount(f *testing.F) {
	for _, b := range sampleRecords(f) {
		kind, disc, ok := KindAndDiscount(b)
		var r Redemption
		if err := json.Unmarshal(b, &r); err != nil {
			f.Fatal(err)
		}
		if !ok || kind != r.Kind || disc != r.DiscountFen {
			f.Fatalf("%s: read %q %d %v, want %q %d", b, kind, disc, ok, r.Kind, r.DiscountFen)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"discount_fen":01}`))                                    // leading zero
	f.Add([]byte(`{"kind":"a","kind":"b"}`))                                // repeated key
	f.Add([]byte(`{"Kind":"refund","DISCOUNT_FEN":3}`))                     // keys in another case
	f.Add([]byte(`{"\u212aind":"refund","discount_fen":2}`))                // Kelvin sign
	f.Add([]byte(`{"discount_fen":1e3,"x":-0.5E+2,"y":[true,false,null]}`)) // numbers
	f.Add([]byte(`{"kind":null,"discount_fen":null}`))                      // nulls
	f.Add([]byte(`{"x":"\xff","kind":"a"}`))                                // invalid UTF-8
	f.Add([]byte(`{"x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}`))         // deep
	f.Add([]byte(`{"kind":"a"} x`))                                         // trailing data
	f.Add([]byte(` { "kind" : "a" , "discount_fen" : -7 } `))               // spaces
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, disc, ok := KindAndDiscount(b)
		if !ok {
			return
		}
		var want struct {
			Kind        Kind `json:"kind"`
			DiscountFen Fen  `json:"discount_fen"`
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: read %q %d, encoding/json: %v", b, kind, disc, err)
		}
		if kind != want.Kind || disc != want.DiscountFen {
			t.Fatalf("%q: read %q %d, encoding/json %q %d", b, kind, disc, want.Kind, want.DiscountFen)
		}
	})
}

// BenchmarkKindAndDiscount reads a ledger's record body's kind and
// discount, and in the same loop decodes it whole with DecodeRedemption:
// x-decode is the ratio of the two times.
func BenchmarkKindAndDiscount(b *testing.B) {
	body := sampleRecords(b)[0]
	var skim, whole time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, _, ok := KindAndDiscount(body); !ok {
			b.Fatal("not read")
		}
		t1 := time.Now()
		if _, err := DecodeRedemption(body); err != nil {
			b.Fatal(err)
		}
		skim, whole = skim+t1.Sub(t0), whole+time.Since(t1)
	}
	b.ReportMetric(float64(skim.Nanoseconds())/float64(b.N), "skim-ns/op")
	b.ReportMetric(float64(whole.Nanoseconds())/float64(b.N), "decode-ns/op")
	b.ReportMetric(float64(skim)/float64(whole), "x-decode")
}

// plain8 says of eight bytes what plain says of each: every byte value in
// every place among plain bytes, and random words.
func TestPlain8(t *testing.T) {
	word := func(b [8]byte) uint64 { return binary.LittleEndian.Uint64(b[:]) }
	for c := range 256 {
		for p := range 8 {
			b := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			b[p] = byte(c)
			if got := plain8(word(b)); got != plain[c] {
				t.Fatalf("byte %#x at %d: plain8 %v", c, p, got)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		var b [8]byte
		want := true
		for i := range b {
			b[i] = byte(r.Uint32())
			if r.IntN(2) == 0 { // mostly plain, to reach words that are
				b[i] = byte(0x20 + r.IntN(0x60))
			}
			want = want && plain[b[i]]
		}
		if got := plain8(word(b)); got != want {
			t.Fatalf("% x: plain8 %v, want %v", b, got, want)
		}
	}
}

// The keys member looks for first are the keys key knows, by the same index.
func TestDecodeRedemption_Members(t *testing.T) {
	for _, o := range []*jsonObject{redemptionObject, voucherObject, itemObject} {
		for i, m := range o.members {
			if k := o.index[m[1:len(m)-2]]; k != i {
				t.Errorf("%s is member %d, key %d", m, i, k)
			}
		}
	}
}
