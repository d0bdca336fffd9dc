package wire

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// sampleAcks are acks as the server encodes them: n outcomes accepted,
// outcomes of each result with a code and a detail in Chinese, an empty
// ack, the largest sequence, and a detail with characters encoding/json
// escapes (left to it).
func sampleAcks(tb testing.TB, n uint64) [][]byte {
	many := &Message{Type: TypeAck, Watermark: n, Upto: n}
	for s := uint64(1); s <= n; s++ {
		many.Outcomes = append(many.Outcomes, terminal.Outcome{Seq: s, Result: terminal.Accepted})
	}
	msgs := []*Message{
		many,
		{Type: TypeAck, Watermark: 42, Upto: 42, Outcomes: []terminal.Outcome{{Seq: 41, Result: terminal.Duplicate},
			{Seq: 42, Result: terminal.Conflict, Code: terminal.AlreadyRedeemed, Detail: "券已由 T2-0000000004 核销"}}},
		{Type: TypeAck},
		{Type: TypeAck, Watermark: ^uint64(0), Outcomes: []terminal.Outcome{{Seq: ^uint64(0), Result: terminal.Accepted}}},
		{Type: TypeAck, Upto: 7, Outcomes: []terminal.Outcome{{Seq: 7, Result: terminal.Conflict, Detail: "<T2 & T3>"}}},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := Encode(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodeJSON is Decode as encoding/json alone reads a message.
func decodeJSON(b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// TestDecodeAck_FastPath: the acks the server writes are read by decodeAck
// (escapes excepted), to the message encoding/json reads.
func TestDecodeAck_FastPath(t *testing.T) {
	for i, b := range sampleAcks(t, 1000) {
		want, err := decodeJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		got, fast := decodeAck(b)
		if escaped := i == 4; fast == escaped {
			t.Errorf("%s: fast path %v", b, fast)
		}
		if fast && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", b, got, want)
		}
		m, err := Decode(b)
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("%s: Decode %+v, %v", b, m, err)
		}
	}
}

// FuzzDecodeAck: Decode reads any input to what encoding/json and Check
// give, error for error, and never panics.
func FuzzDecodeAck(f *testing.F) {
	for _, b := range sampleAcks(f, 3) {
		f.Add(b)
	}
	f.Add([]byte(`{"type":"ack","watermark":01}`))                                             // leading zero
	f.Add([]byte(`{"type":"ack","watermark":18446744073709551616}`))                           // overflow
	f.Add([]byte(`{"type":"ack","upto":1,"watermark":2}`))                                     // another order
	f.Add([]byte(`{"type":"ack","watermark":1,"watermark":2}`))                                // repeated key
	f.Add([]byte(`{"type":"ack","Watermark":3,"OUTCOMES":[]}`))                                // keys in another case
	f.Add([]byte(`{"type":"ack","outcomes":[]}`))                                              // empty, not nil
	f.Add([]byte(`{"type":"ack","outcomes":null}`))                                            // null
	f.Add([]byte(`{"type":"ack","outcomes":[{"seq":1,"result":"accepted","seq":2}]}`))         // repeated key inside
	f.Add([]byte(`{"type":"ack","outcomes":[{"seq":1,"result":"maybe"}]}`))                    // unknown result
	f.Add([]byte(`{"type":"ack","outcomes":[{"seq":1,"result":"conflict","detail":"\xff"}]}`)) // invalid UTF-8
	f.Add([]byte(`{"type":"ack","outcomes":[{"seq":1,"result":"conflict","detail":"a\u00e9"}]}`))
	f.Add([]byte(`{"type":"ack","watermark":1.5}`))                                         // a fraction
	f.Add([]byte(`{"type":"ack","watermark":1} `))                                          // trailing space
	f.Add([]byte(`{"type":"ack","watermark":1}{}`))                                         // trailing data
	f.Add([]byte(`{"type":"ack","server_time":"2022-10-01T12:00:00+08:00","watermark":1}`)) // another key
	f.Add([]byte(`{"type":"ackx"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := decodeJSON(b)
		got, err := Decode(b)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, encoding/json %v", b, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\ngot  %+v\nwant %+v", b, got, want)
		}
	})
}

// BenchmarkDecodeAck decodes an ack of 1,000 outcomes, and in the same
// loop with encoding/json: x-json is the ratio of the two times.
func BenchmarkDecodeAck(b *testing.B) {
	ack := sampleAcks(b, 1000)[0]
	var fast, std time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := Decode(ack); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := decodeJSON(ack); err != nil {
			b.Fatal(err)
		}
		fast, std = fast+t1.Sub(t0), std+time.Since(t1)
	}
	b.ReportMetric(float64(fast.Nanoseconds())/float64(b.N), "decode-ns/op")
	b.ReportMetric(float64(std.Nanoseconds())/float64(b.N), "json-ns/op")
	b.ReportMetric(float64(fast)/float64(std), "x-json")
}
