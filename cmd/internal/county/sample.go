package county

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Reasons a record is in the sample. Every record of the first six kinds
// is taken; monetary_unit and random fill the sample up to the rate.
const (
	ReasonConflict     = "conflict"      // a conflict or rule break
	ReasonFlagged      = "flagged"       // carries an audit flag
	ReasonRefunded     = "refunded"      // a redemption with a refund in the period
	ReasonRefund       = "refund"        // a refund record
	ReasonOffline      = "offline"       // a redemption approved offline
	ReasonLove         = "love"          // a love voucher
	ReasonMonetaryUnit = "monetary_unit" // picked by monetary-unit sampling on subsidy
	ReasonRandom       = "random"        // picked at random when no subsidy is left to sample by
)

// Manifest is a sample's index (sample.json): how it was drawn and, per
// record, why it was picked and the SHA-256 of its evidence file.
type Manifest struct {
	Programme  string        `json:"programme"`
	From       string        `json:"from"`
	Until      string        `json:"until"`
	Seed       string        `json:"seed"`
	RateBP     int           `json:"rate_basis_points"`
	Method     string        `json:"method"`
	Population int           `json:"population"`
	Required   int           `json:"required"`
	Selected   int           `json:"selected"`
	IssuerKeys []KeyEvidence `json:"issuer_keys"`
	Records    []Pick        `json:"records"`
}

// Pick is one sampled record in the manifest.
type Pick struct {
	ID      string   `json:"id"`
	Reasons []string `json:"reasons"`
	File    string   `json:"file"`
	SHA256  string   `json:"sha256"`
}

// KeyEvidence is a public key in hex with its id.
type KeyEvidence struct {
	ID     string `json:"id"`
	Public string `json:"public"`
}

// Sealed is a terminal's sealed record in hex, with its body as the exact
// text the terminal signed.
type Sealed struct {
	TerminalID string `json:"terminal_id"`
	Seq        uint64 `json:"seq"`
	Body       string `json:"body"`
	Prev       string `json:"prev"`
	Hash       string `json:"hash"`
	Sig        string `json:"sig"`
}

func sealedOf(r *Record) *Sealed {
	return &Sealed{TerminalID: r.TerminalID, Seq: r.Seq, Body: string(r.Body), Prev: hex.EncodeToString(r.Prev[:]),
		Hash: hex.EncodeToString(r.Hash[:]), Sig: hex.EncodeToString(r.Sig)}
}

// Evidence is what an auditor needs to check one record without trusting
// the server: the record as the terminal signed it and the terminal's
// public key; its neighbours in the terminal's chain; the voucher code and
// the issuer key that verifies it; for a refund, the sale it refunds; the
// server's decision and why; and a summary of the body that verify checks.
type Evidence struct {
	ID          string        `json:"id"`
	Reasons     []string      `json:"reasons"`
	Record      Sealed        `json:"record"`
	TerminalKey string        `json:"terminal_public_key"`
	Before      *Sealed       `json:"chain_before,omitempty"`
	After       *Sealed       `json:"chain_after,omitempty"`
	Code        string        `json:"voucher_code"`
	IssuerKey   *KeyEvidence  `json:"issuer_key,omitempty"`
	Sale        *Sealed       `json:"sale,omitempty"`
	Decision    Decision      `json:"server_decision"`
	Summary     EvidenceBrief `json:"summary"`
}

// Decision is the server's verdict on a record.
type Decision struct {
	Result   terminal.Result   `json:"result"`
	Standing terminal.Standing `json:"standing"`
	Why      string            `json:"why,omitempty"`
}

// EvidenceBrief is the part of a record's body an auditor reads first.
type EvidenceBrief struct {
	Kind        terminal.Kind     `json:"kind"`
	MerchantID  string            `json:"merchant_id"`
	At          time.Time         `json:"at"`
	Voucher     string            `json:"voucher"`
	Holder      string            `json:"holder"`
	Category    terminal.Category `json:"category"`
	SalesFen    terminal.Fen      `json:"sales_fen"`
	DiscountFen terminal.Fen      `json:"discount_fen"`
	RefundFen   terminal.Fen      `json:"refund_fen,omitempty"`
	ShareFen    terminal.Fen      `json:"voucher_share_fen,omitempty"`
	Online      bool              `json:"online"`
	Flags       []string          `json:"flags,omitempty"`
}

func briefOf(r *terminal.Redemption) EvidenceBrief {
	return EvidenceBrief{Kind: r.Kind, MerchantID: r.MerchantID, At: r.At, Voucher: r.Voucher.ID.String(),
		Holder: r.Voucher.Holder.String(), Category: r.Voucher.Category, SalesFen: r.TotalFen, DiscountFen: r.DiscountFen,
		RefundFen: r.RefundFen, ShareFen: r.VoucherShareFen, Online: r.Online, Flags: r.Flags}
}

// Method describes the selection in the manifest.
const Method = "every conflict, rule break, flagged, refunded, refund, offline and love record; then monetary-unit " +
	"sampling (ISA 530; 审计准则第1314号) on the discount of the other redemptions, records in id order, " +
	"interval = remaining discount ÷ remaining picks, seeded random start, repeated until the rate is met; " +
	"random picks only when no discount is left"

// Select picks a sample of at least rateBP/10000 of the period's records,
// reproducibly from seed: the must-include records, then monetary units.
// It returns the picked record ids in id order with their reasons, and the
// number required.
func Select(p *Period, rateBP int, seed string) (map[string][]string, int) {
	n := len(p.Lines)
	required := (n*rateBP + 9999) / 10000
	picked := map[string][]string{}
	refunded := map[string]bool{}
	for _, l := range p.Lines {
		if l.Record.Kind == terminal.KindRefund {
			refunded[l.Record.RefundOf] = true
		}
	}
	var rest []*terminal.Line
	for i := range p.Lines {
		l := &p.Lines[i]
		r := l.Record
		var why []string
		st := l.Standing()
		if st == terminal.Conflicted || st == terminal.RuleBreak {
			why = append(why, ReasonConflict)
		}
		if len(r.Flags) > 0 {
			why = append(why, ReasonFlagged)
		}
		if refunded[r.ID] {
			why = append(why, ReasonRefunded)
		}
		if r.Kind == terminal.KindRefund {
			why = append(why, ReasonRefund)
		} else if !r.Online {
			why = append(why, ReasonOffline)
		}
		if r.Voucher.Category == terminal.Love {
			why = append(why, ReasonLove)
		}
		if len(why) > 0 {
			picked[r.ID] = why
		} else {
			rest = append(rest, l)
		}
	}
	slices.SortFunc(rest, func(a, b *terminal.Line) int { return cmp.Compare(a.Record.ID, b.Record.ID) })
	sum := sha256.Sum256([]byte("voucherpos-audit-sample-v1\x00" + seed))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
	for len(picked) < required && len(rest) > 0 {
		var total int64
		for _, l := range rest {
			total += int64(l.Record.DiscountFen)
		}
		k := int64(required - len(picked))
		if total <= 0 {
			// Nothing left to weigh by money: a seeded random draw.
			rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
			for _, l := range rest[:min(int(k), len(rest))] {
				picked[l.Record.ID] = []string{ReasonRandom}
			}
			break
		}
		interval := max(total/k, 1)
		point := rng.Int64N(interval)
		var cum int64
		kept := rest[:0:0]
		for _, l := range rest {
			lo := cum
			cum += int64(l.Record.DiscountFen)
			if point >= lo && point < cum && int64(len(picked)) < int64(required) {
				picked[l.Record.ID] = []string{ReasonMonetaryUnit}
				for point < cum {
					point += interval
				}
				continue
			}
			kept = append(kept, l)
		}
		rest = kept
	}
	return picked, required
}

// Bundle is a drawn sample: its manifest and its files by slash-separated
// path (sample.json, records/ID.json), as WriteDir writes them.
type Bundle struct {
	Manifest *Manifest         `json:"manifest"`
	Files    map[string][]byte `json:"files"`
}

// WriteDir writes the bundle's files under dir.
func (b *Bundle) WriteDir(dir string) error {
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("sample file %q: not a path inside the sample", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b.Files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Sample draws the sample of from..until at rateBP basis points with seed:
// sample.json and one evidence file per record under records/.
func Sample(ctx context.Context, src Source, prog *terminal.Programme, from, until time.Time, rateBP int, seed string) (*Bundle, error) {
	if rateBP <= 0 || rateBP > 10000 {
		return nil, fmt.Errorf("rate %d.%02d%% outside (0, 100%%]", rateBP/100, rateBP%100)
	}
	p, err := Load(ctx, src, from, until)
	if err != nil {
		return nil, err
	}
	picks, required := Select(p, rateBP, seed)
	keys, err := src.IssuerKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer keys: %w", err)
	}
	m := &Manifest{Programme: prog.Name, From: p.From.Format(time.DateOnly), Until: p.Until.Format(time.DateOnly),
		Seed: seed, RateBP: rateBP, Method: Method, Population: len(p.Lines), Required: required, Selected: len(picks),
		IssuerKeys: []KeyEvidence{}, Records: []Pick{}}
	for _, k := range keys {
		m.IssuerKeys = append(m.IssuerKeys, KeyEvidence{ID: k.ID.String(), Public: hex.EncodeToString(k.Public)})
	}
	bundle := &Bundle{Manifest: m, Files: map[string][]byte{}}
	lines := map[string]*terminal.Line{}
	for i := range p.Lines {
		lines[p.Lines[i].Record.ID] = &p.Lines[i]
	}
	ids := make([]string, 0, len(picks))
	for id := range picks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ev, err := evidence(ctx, src, p, lines[id], keys)
		if err != nil {
			return nil, err
		}
		ev.Reasons = picks[id]
		b, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			return nil, err
		}
		b = append(b, '\n')
		name := "records/" + id + ".json"
		bundle.Files[name] = b
		h := sha256.Sum256(b)
		m.Records = append(m.Records, Pick{ID: id, Reasons: picks[id], File: name, SHA256: hex.EncodeToString(h[:])})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	bundle.Files["sample.json"] = append(b, '\n')
	return bundle, nil
}

func evidence(ctx context.Context, src Source, p *Period, l *terminal.Line, keys []terminal.IssuerKey) (*Evidence, error) {
	st, ok, err := src.Record(ctx, p.Stored[l.Record.ID].TerminalID, p.Stored[l.Record.ID].Seq)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("record %s vanished from the store", l.Record.ID)
	}
	pub, err := src.TerminalKey(ctx, st.TerminalID)
	if err != nil {
		return nil, fmt.Errorf("terminal %s: %w", st.TerminalID, err)
	}
	why := l.Detail
	if why == "" && l.Record.Kind == terminal.KindRefund && l.Of == terminal.Conflict {
		why = "refund of a conflicted sale: " + l.OfDetail
	}
	ev := &Evidence{ID: st.ID(), Record: *sealedOf(st), TerminalKey: hex.EncodeToString(pub), Code: l.Record.Code,
		Decision: Decision{Result: st.Result, Standing: l.Standing(), Why: why}, Summary: briefOf(l.Record)}
	if st.Seq > 1 {
		if r, ok, err := src.Record(ctx, st.TerminalID, st.Seq-1); err != nil {
			return nil, err
		} else if ok {
			ev.Before = sealedOf(r)
		}
	}
	if r, ok, err := src.Record(ctx, st.TerminalID, st.Seq+1); err != nil {
		return nil, err
	} else if ok {
		ev.After = sealedOf(r)
	}
	if v, err := terminal.ParseCode(l.Record.Code); err == nil {
		for _, k := range keys {
			if k.ID == v.KeyID {
				ev.IssuerKey = &KeyEvidence{ID: k.ID.String(), Public: hex.EncodeToString(k.Public)}
			}
		}
	}
	if l.Record.Kind == terminal.KindRefund {
		if term, seq, ok := terminal.ParseRecordID(l.Record.RefundOf); ok {
			if r, found, err := src.Record(ctx, term, seq); err != nil {
				return nil, err
			} else if found {
				ev.Sale = sealedOf(r)
			}
		}
	}
	return ev, nil
}
