package hub

import (
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestSender_DecodedCode: the code a connection's reader decodes (prepare)
// reaches the committer's review with the record (sender), so the review
// does not decode it again.
func TestSender_DecodedCode(t *testing.T) {
	sale := &terminal.Redemption{Kind: terminal.KindRedemption, Code: "VC1:NOT-A-REAL-CODE"}
	refund := &terminal.Redemption{Kind: terminal.KindRefund, Code: sale.Code}
	meta := []recMeta{{checked: true, rec: sale, Kind: sale.Kind}, {checked: true, rec: refund, Kind: refund.Kind}}
	prepare(meta, []terminal.Sealed{{Seq: 1}, {Seq: 2}}, "T1", "M1")
	j := &job{c: &conn{}, term: "T1"}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, terminal.Zone)
	s := sender(j, &meta[0], now, now)
	if s.Code != &meta[0].code || !s.Code.Of(sale.Code) {
		t.Errorf("the sale's sender carries %p (decoded: %v), want its record's decoded code %p", s.Code, s.Code.Of(sale.Code), &meta[0].code)
	}
	if s.Code.Of(sale.Code + "x") {
		t.Error("the decoded code is taken for another code's")
	}
	if s := sender(j, &meta[1], now, now); s.Code.Of(refund.Code) {
		t.Error("a refund's code was decoded: a refund's review reads no code")
	}
}

// TestVerifyBatch_ReusedMeta: a batch's records decoded into the storage
// of an earlier batch's (a reused message buffer) come out as they do into
// fresh storage: nothing of the earlier batch shows through.
func TestVerifyBatch_ReusedMeta(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, terminal.Zone)
	chain := func(first uint64, prev [32]byte, recs ...terminal.Redemption) []terminal.Sealed {
		var out []terminal.Sealed
		for i := range recs {
			r := &recs[i]
			r.Seq, r.ID, r.TerminalID, r.MerchantID, r.At = first+uint64(i), terminal.RecordID("T1", first+uint64(i)), "T1", "M1", at
			body, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			s := terminal.Seal(key, prev, r.Seq, body)
			prev = s.Hash
			out = append(out, s)
		}
		return out
	}
	full := terminal.Redemption{Kind: terminal.KindRedemption, Code: "VC1:X", Voucher: terminal.Voucher{ID: 7, Holder: 9, Category: terminal.Retail},
		Items: []terminal.Item{{SKU: "rice", Name: "大米", Category: "grocery", Qty: 2, UnitPriceFen: 13000}}, Flags: []string{"linked"},
		TotalFen: 26000, EligibleFen: 26000, DiscountFen: 4000, PayableFen: 22000, Online: true, RefundOf: "T1-0000000001"}
	first := chain(1, [32]byte{}, full, full, full)
	pub := key.Public().(ed25519.PublicKey)
	storage, err := verifyBatch(nil, first, "T1", "M1", pub, 1, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	storage[0].minted, storage[0].id, storage[0].holder = "VC1:X", "T1-0000000001", "h"
	prepare(storage, first, "T1", "M1")
	second := chain(4, first[2].Hash, terminal.Redemption{Kind: terminal.KindRefund}, terminal.Redemption{Kind: terminal.KindRedemption})
	// The server has the second batch's first record: it is a resend, not decoded.
	want, err := verifyBatch(nil, second, "T1", "M1", pub, 5, second[0].Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifyBatch(storage, second, "T1", "M1", pub, 5, second[0].Hash)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &storage[0] {
		t.Error("the batch was decoded into fresh storage, not the storage given")
	}
	if len(got) != len(want) || want[0].checked || !want[1].checked {
		t.Fatalf("%d records decoded, want %d: the first a resend (checked %v), the second new (%v)", len(got), len(want), want[0].checked, want[1].checked)
	}
	for i := range got {
		g, w := got[i], want[i]
		if (g.rec != nil || w.rec != nil) && (g.rec != &got[i].body || w.rec != &want[i].body) {
			t.Fatalf("record %d: rec does not point at its own body", i)
		}
		g.rec, w.rec = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("record %d decoded into reused storage:\n got %+v\nwant %+v", i, g, w)
		}
	}
}
