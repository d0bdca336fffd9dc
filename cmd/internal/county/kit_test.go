package county_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/terminal"
)

// chain is a set of terminals' signed record chains, as the server stores
// them, for the tests of what reads them. The records are made and signed
// exactly as a terminal does (ChainHash, Ed25519); the server's verdicts
// are given by the test. The end-to-end test in cmd/voucherd reads a real
// server's store.
type chain struct {
	t       testing.TB
	issuer  ed25519.PrivateKey
	keys    map[string]ed25519.PrivateKey
	heads   map[string]*county.Record
	records map[string]*county.Record
	order   []string
	next    uint64
}

var day = time.Date(2022, 10, 1, 0, 0, 0, 0, terminal.Zone)

func newChain(t testing.TB) *chain {
	return &chain{t: t, issuer: ed25519.NewKeyFromSeed(make([]byte, 32)), keys: map[string]ed25519.PrivateKey{},
		heads: map[string]*county.Record{}, records: map[string]*county.Record{}, next: 0x1000}
}

// sale appends a redemption on terminal term of merchant M<term's first letter>.
func (c *chain) sale(term string, at time.Time, cat terminal.Category, spend, off, total terminal.Fen, online bool, res terminal.Result, detail string, flags ...string) *terminal.Redemption {
	c.next++
	from, until := terminal.ClaimDay(at)
	v := terminal.Voucher{ID: terminal.VoucherID(c.next), Holder: terminal.HolderID(c.next % 7), Category: cat,
		SpendFen: spend, OffFen: off, ValidFrom: from, ValidUntil: until, Region: 140521, Campaign: 202202, Round: 1}
	if cat == terminal.Love {
		v.SpendFen = 0
	}
	code, err := terminal.Encode(v, c.issuer)
	if err != nil {
		c.t.Fatal(err)
	}
	v, _ = terminal.ParseCode(code)
	r := &terminal.Redemption{Kind: terminal.KindRedemption, At: at, Code: code, Voucher: v,
		Items:    []terminal.Item{{SKU: "a", Name: "a", Category: "grocery", Qty: 1, UnitPriceFen: total}},
		TotalFen: total, EligibleFen: total, DiscountFen: off, PayableFen: total - off, Online: online, Flags: flags}
	c.add(term, r, res, detail)
	return r
}

// refund appends a refund of the whole of orig.
func (c *chain) refund(orig *terminal.Redemption, at time.Time) *terminal.Redemption {
	p, err := terminal.PlanRefund(orig, nil, nil, at)
	if err != nil {
		c.t.Fatal(err)
	}
	r := &terminal.Redemption{Kind: terminal.KindRefund, At: at, Code: orig.Code, Voucher: orig.Voucher, Items: p.Items,
		TotalFen: p.GrossFen, RefundOf: orig.ID, RefundFen: p.RefundFen, VoucherShareFen: p.VoucherShareFen,
		VoucherReturned: p.VoucherReturned}
	c.add(orig.TerminalID, r, terminal.Accepted, "")
	return r
}

func (c *chain) add(term string, r *terminal.Redemption, res terminal.Result, detail string) {
	key := c.keys[term]
	if key == nil {
		key = ed25519.NewKeyFromSeed([]byte(fmt.Sprintf("%-32s", term)))
		c.keys[term] = key
	}
	var prev [32]byte
	var seq uint64 = 1
	if h := c.heads[term]; h != nil {
		prev, seq = h.Hash, h.Seq+1
	}
	r.Seq, r.TerminalID, r.MerchantID, r.ID = seq, term, "M"+term[1:2], terminal.RecordID(term, seq)
	body, err := json.Marshal(r)
	if err != nil {
		c.t.Fatal(err)
	}
	hash := terminal.ChainHash(prev, seq, body)
	rec := &county.Record{TerminalID: term, Sealed: terminal.Sealed{Seq: seq, Body: body, Prev: prev, Hash: hash,
		Sig: ed25519.Sign(key, hash[:])}, Result: res, Detail: detail}
	c.heads[term] = rec
	c.records[r.ID] = rec
	c.order = append(c.order, r.ID)
}

func (c *chain) Records(_ context.Context, from, until time.Time, fn func(*county.Record) error) error {
	for _, id := range c.order {
		r := c.records[id]
		red, _ := r.Decode()
		d := terminal.Day(red.At)
		if !d.Before(from) && !d.After(until) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chain) Record(_ context.Context, term string, seq uint64) (*county.Record, bool, error) {
	r, ok := c.records[terminal.RecordID(term, seq)]
	return r, ok, nil
}

func (c *chain) Merchants(context.Context) ([]terminal.Merchant, error) {
	return []terminal.Merchant{{ID: "M1", Name: "沁水百货", Category: terminal.Retail, Region: 140521},
		{ID: "M2", Name: "沁水加油站", Category: terminal.Fuel, Region: 140521},
		{ID: "M3", Name: "端氏饭店", Category: terminal.Hospitality, Region: 140522}}, nil
}

func (c *chain) TerminalKey(_ context.Context, term string) (ed25519.PublicKey, error) {
	k := c.keys[term]
	if k == nil {
		return nil, fmt.Errorf("terminal %s unknown", term)
	}
	return k.Public().(ed25519.PublicKey), nil
}

func (c *chain) IssuerKeys(context.Context) ([]terminal.IssuerKey, error) {
	pub := c.issuer.Public().(ed25519.PublicKey)
	return []terminal.IssuerKey{{ID: terminal.KeyIDOf(pub), Public: pub}}, nil
}

func (c *chain) Actions(context.Context) ([]county.Action, error) {
	return []county.Action{{At: day.Add(15 * time.Hour), Who: "admin", What: "block", Target: "M2", Why: "test"}}, nil
}

// busyDay fills c with a day of 60 records of every kind on three
// merchants and returns the period's expected account.
func busyDay(c *chain) {
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	for i := range 40 {
		online := i%5 != 0
		c.sale("T1", at(10+i/6, i%60), terminal.Retail, 50_00, 10_00, terminal.Fen(60_00+i*100), online, terminal.Accepted, "")
	}
	for i := range 8 {
		c.sale("T2", at(11+i, 5), terminal.Fuel, 200_00, 40_00, 200_50, false, terminal.Accepted, "")
	}
	r := c.sale("T3", at(12, 0), terminal.Hospitality, 500_00, 100_00, 800_00, true, terminal.Accepted, "")
	c.refund(r, at(12, 10))
	c.sale("T3", at(13, 0), terminal.Hospitality, 200_00, 40_00, 300_00, true, terminal.Accepted, "", "linked: T3-1 earlier")
	c.sale("T3", at(14, 0), terminal.Hospitality, 200_00, 40_00, 300_00, false, terminal.Conflict,
		"already_redeemed: 此券已核销 / voucher already redeemed (T9-0000000001)")
	c.sale("T3", at(15, 0), terminal.Love, 0, 100_00, 120_00, true, terminal.Accepted, "")
	for i := range 6 {
		c.sale("T3", at(16, i), terminal.Hospitality, 50_00, 10_00, 90_00, true, terminal.Accepted, "")
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
