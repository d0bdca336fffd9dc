package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// Drain writes n accepted redemptions of one terminal through s in group
// commits of group records, as the hub's committer does (each record put,
// its voucher made redeemed, the chain head moved, Keys naming what is
// read), and returns the time the commits took. The records carry 300-byte
// bodies, like a sale's. Each engine's benchmark prints it beside a bare
// batched write of the same rows measured in the same run.
func Drain(b *testing.B, s hub.Store, n, group int) time.Duration {
	ctx := context.Background()
	if err := s.AddMerchant(ctx, merchant("M1")); err != nil {
		b.Fatal(err)
	}
	if err := s.AddTerminal(ctx, hub.TerminalRecord{ID: "T1", MerchantID: "M1", Public: make([]byte, 32), Added: noon}); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'v'}, 300)
	var prev [32]byte
	recs := make([]hub.StoredRecord, n)
	for i := range recs {
		seq := uint64(i + 1)
		recs[i] = hub.StoredRecord{TerminalID: "T1", Seq: seq, MerchantID: "M1", At: noon, Kind: terminal.KindRedemption,
			Voucher: terminal.VoucherID(seq * 7919), Sig: make([]byte, 64), Body: body, Result: terminal.Accepted,
			Hash: terminal.ChainHash(prev, seq, body)}
		prev = recs[i].Hash
	}
	t0 := time.Now()
	for i := 0; i < n; i += group {
		g := recs[i:min(i+group, n)]
		keys := &hub.Keys{Terminals: []string{"T1"}}
		for j := range g {
			keys.Vouchers = append(keys.Vouchers, g[j].Voucher)
		}
		err := s.Commit(ctx, keys, func(tx hub.Tx) error {
			if _, err := tx.Head("T1"); err != nil {
				return err
			}
			for j := range g {
				r := &g[j]
				if _, ok, err := tx.Redeemed(r.Voucher); err != nil || ok {
					return fmt.Errorf("voucher %s redeemed %v: %v", r.Voucher, ok, err)
				}
				if err := tx.PutRecord(r); err != nil {
					return err
				}
				if err := tx.SetRedeemed(r.Voucher, r.ID()); err != nil {
					return err
				}
			}
			l := &g[len(g)-1]
			return tx.SetHead("T1", hub.Head{Seq: l.Seq, Hash: l.Hash})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}
