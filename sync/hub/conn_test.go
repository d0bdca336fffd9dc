package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// TestHub_BatchesInFlight: a terminal keeps a full window of batches in
// flight, so the connection reads the next messages into the buffers it
// reuses while the committer still works on the ones before; every record
// is accepted and stored byte for byte as sent. A buffer read into again
// while a batch that aliases it is decided or written shows here as a
// stored body, signature or hash other than the one sent, and under -race
// as a data race.
func TestHub_BatchesInFlight(t *testing.T) {
	const window, batches, per = 4, 12, 100 // batches above minPooledBuf
	th := hubWithTerminals(t, hub.Options{Window: window, BatchMax: per}, terminal.Yuan(200), terminal.Yuan(40), 0, "T1")
	ctx := context.Background()
	from, until := terminal.ClaimDay(day)
	codes, err := th.h.Mint(ctx, hub.MintRequest{Category: terminal.Retail, SpendFen: terminal.Yuan(200), OffFen: terminal.Yuan(40),
		Holder: 7, From: from, Until: until, N: batches * per, EachHolder: true})
	if err != nil {
		t.Fatal(err)
	}
	// A backlog above the default offline allowance, as in a drain.
	if err := th.h.SetParams(ctx, terminal.Params{OfflineLimitFen: terminal.Yuan(100_000)}); err != nil {
		t.Fatal(err)
	}
	r, welcome := dialRaw(t, th.srv, th.creds[0])
	if welcome.Type != wire.TypeWelcome || welcome.Window != window {
		t.Fatalf("welcome %+v", welcome)
	}
	var prev [32]byte
	sent := map[uint64]terminal.Sealed{}
	acks := 0
	readAck := func() {
		t.Helper()
		ack := r.read()
		if ack.Type != wire.TypeAck || len(ack.Outcomes) != per {
			t.Fatalf("ack %+v", ack)
		}
		for _, o := range ack.Outcomes {
			if o.Result != terminal.Accepted {
				t.Errorf("seq %d: %+v, want accepted", o.Seq, o)
			}
		}
		acks++
	}
	for i := range batches {
		var bodies []string
		for k := range per {
			seq := uint64(i*per + k + 1)
			code := codes[i*per+k]
			v, err := terminal.ParseCode(code)
			if err != nil {
				t.Fatal(err)
			}
			rec := &terminal.Redemption{ID: terminal.RecordID("T1", seq), Kind: terminal.KindRedemption, Seq: seq,
				TerminalID: "T1", MerchantID: "M1", At: noon, Code: code, Voucher: v,
				Items:    []terminal.Item{{SKU: "a", Name: "item", Category: "grocery", Qty: 1, UnitPriceFen: 26000}},
				TotalFen: 26000, EligibleFen: 26000, DiscountFen: v.OffFen, PayableFen: 26000 - v.OffFen}
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, string(b))
		}
		sealed := r.seal(prev, uint64(i*per+1), bodies...)
		prev = sealed[len(sealed)-1].Hash
		for _, s := range sealed {
			sent[s.Seq] = s
		}
		b, err := wire.AppendBatch(nil, sealed)
		if err != nil {
			t.Fatal(err)
		}
		if i >= window {
			readAck() // keep the window full, never more
		}
		if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	for acks < batches {
		readAck()
	}
	stored := 0
	err = th.h.DayRecords(ctx, day, "M1", func(sr *hub.StoredRecord) error {
		stored++
		s, ok := sent[sr.Seq]
		switch {
		case !ok || sr.TerminalID != "T1":
			t.Errorf("stored %s, never sent", sr.ID())
		case !bytes.Equal(sr.Body, s.Body) || !bytes.Equal(sr.Sig, s.Sig) || sr.Hash != s.Hash:
			t.Errorf("seq %d stored as\n%s\nsent\n%s", sr.Seq, sr.Body, s.Body)
		case sr.Result != terminal.Accepted || sr.Voucher == 0:
			t.Errorf("seq %d stored %s voucher %s", sr.Seq, sr.Result, sr.Voucher)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored != batches*per {
		t.Errorf("%d records stored, want %d", stored, batches*per)
	}
}
