package county

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/voucherpos/voucherpos/terminal"
)

// Fault is one thing wrong in a sample: the record (or "sample.json") and
// what failed.
type Fault struct {
	ID  string
	Err string
}

func (f Fault) String() string { return f.ID + ": " + f.Err }

// Verify checks a sample written by Sample using only what is in dir: the
// manifest's counts and file digests, and for every record its hash and
// terminal signature, its chain neighbours, its body against the summary,
// its voucher code against the issuer key, its refund's sale, and that the
// server's decision and the reasons it was picked agree with the record.
// It returns the records checked and every fault found.
func Verify(dir string) (int, []Fault, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "sample.json"))
	if err != nil {
		return 0, nil, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, nil, fmt.Errorf("sample.json: %w", err)
	}
	var faults []Fault
	fail := func(id, f string, a ...any) { faults = append(faults, Fault{id, fmt.Sprintf(f, a...)}) }
	if m.Required != (m.Population*m.RateBP+9999)/10000 {
		fail("sample.json", "required %d is not %d.%02d%% of %d records", m.Required, m.RateBP/100, m.RateBP%100, m.Population)
	}
	if m.Selected != len(m.Records) || m.Selected < m.Required {
		fail("sample.json", "selected %d, %d records listed, %d required", m.Selected, len(m.Records), m.Required)
	}
	keys := map[string]string{}
	for _, k := range m.IssuerKeys {
		keys[k.ID] = k.Public
	}
	seen := map[string]bool{}
	for _, p := range m.Records {
		if seen[p.ID] {
			fail(p.ID, "listed twice")
		}
		seen[p.ID] = true
		if _, _, ok := terminal.ParseRecordID(p.ID); !ok || strings.ContainsAny(p.ID, `/\`) || strings.Contains(p.ID, "..") ||
			p.File != "records/"+p.ID+".json" {
			fail(p.ID, "file %q is not records/%s.json", p.File, p.ID)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p.File)))
		if err != nil {
			fail(p.ID, "%v", err)
			continue
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != p.SHA256 {
			fail(p.ID, "file digest differs from sample.json")
		}
		var ev Evidence
		if err := json.Unmarshal(b, &ev); err != nil {
			fail(p.ID, "evidence: %v", err)
			continue
		}
		if ev.ID != p.ID || !slices.Equal(ev.Reasons, p.Reasons) {
			fail(p.ID, "evidence is for %s with reasons %v", ev.ID, ev.Reasons)
		}
		for _, e := range checkEvidence(&ev, keys) {
			fail(p.ID, "%s", e)
		}
	}
	return len(m.Records), faults, nil
}

// checkSealed verifies one sealed record's hash and signature with pub and
// returns its decoded fields.
func checkSealed(s *Sealed, pub ed25519.PublicKey) (prev, hash [32]byte, err error) {
	p, err1 := hex.DecodeString(s.Prev)
	h, err2 := hex.DecodeString(s.Hash)
	sig, err3 := hex.DecodeString(s.Sig)
	if err := errors.Join(err1, err2, err3); err != nil || len(p) != 32 || len(h) != 32 {
		return prev, hash, fmt.Errorf("seq %d: bad hex or length", s.Seq)
	}
	copy(prev[:], p)
	copy(hash[:], h)
	if terminal.ChainHash(prev, s.Seq, []byte(s.Body)) != hash {
		return prev, hash, fmt.Errorf("seq %d: hash does not match the body", s.Seq)
	}
	if !ed25519.Verify(pub, hash[:], sig) {
		return prev, hash, fmt.Errorf("seq %d: terminal signature does not verify", s.Seq)
	}
	return prev, hash, nil
}

func checkEvidence(ev *Evidence, keys map[string]string) []string {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	pk, err := hex.DecodeString(ev.TerminalKey)
	if err != nil || len(pk) != ed25519.PublicKeySize {
		return []string{"terminal public key is not 32 bytes of hex"}
	}
	pub := ed25519.PublicKey(pk)
	rec := &ev.Record
	if terminal.RecordID(rec.TerminalID, rec.Seq) != ev.ID {
		bad("record is %s-%d", rec.TerminalID, rec.Seq)
	}
	prev, hash, err := checkSealed(rec, pub)
	if err != nil {
		return append(errs, err.Error())
	}
	if b := ev.Before; b != nil {
		if _, h, err := checkSealed(b, pub); err != nil {
			bad("chain before: %v", err)
		} else if b.Seq+1 != rec.Seq || b.TerminalID != rec.TerminalID || h != prev {
			bad("chain before: seq %d does not link to this record", b.Seq)
		}
	} else if prev != ([32]byte{}) {
		bad("chain before: missing for a record that is not its terminal's first")
	}
	if a := ev.After; a != nil {
		if p, _, err := checkSealed(a, pub); err != nil {
			bad("chain after: %v", err)
		} else if a.Seq != rec.Seq+1 || a.TerminalID != rec.TerminalID || p != hash {
			bad("chain after: seq %d does not link to this record", a.Seq)
		}
	}
	var r terminal.Redemption
	if err := json.Unmarshal([]byte(rec.Body), &r); err != nil {
		return append(errs, "body: "+err.Error())
	}
	if r.TerminalID != rec.TerminalID || r.Seq != rec.Seq {
		bad("body is of %s seq %d", r.TerminalID, r.Seq)
	}
	if want := briefOf(&r); !reflect.DeepEqual(normBrief(want), normBrief(ev.Summary)) {
		bad("summary differs from the signed body")
	}
	if r.Code != ev.Code {
		bad("voucher code differs from the signed body")
	}
	errs = append(errs, checkCode(ev, &r, keys)...)
	errs = append(errs, checkDecision(ev, &r)...)
	if r.Kind == terminal.KindRefund {
		errs = append(errs, checkSale(ev.Sale, &r, pub)...)
	}
	return errs
}

// checkSale checks that a refund's sale is the terminal's signed record it
// names, for the same voucher code.
func checkSale(sale *Sealed, r *terminal.Redemption, pub ed25519.PublicKey) []string {
	if sale == nil {
		return []string{"refund without its sale"}
	}
	if terminal.RecordID(sale.TerminalID, sale.Seq) != r.RefundOf || sale.TerminalID != r.TerminalID {
		return []string{fmt.Sprintf("sale is %s-%d, the refund is of %s", sale.TerminalID, sale.Seq, r.RefundOf)}
	}
	if _, _, err := checkSealed(sale, pub); err != nil {
		return []string{"sale: " + err.Error()}
	}
	var s terminal.Redemption
	if err := json.Unmarshal([]byte(sale.Body), &s); err != nil || s.Code != r.Code || s.Kind != terminal.KindRedemption {
		return []string{"sale is not a redemption with the refund's voucher code"}
	}
	return nil
}

// normBrief makes two summaries comparable after a JSON round trip.
func normBrief(b EvidenceBrief) EvidenceBrief {
	b.At = b.At.UTC()
	if len(b.Flags) == 0 {
		b.Flags = nil
	}
	return b
}

// checkCode verifies the voucher code with the issuer key of the evidence,
// which must be one of the manifest's; a code that fails is a fault unless
// the server's decision says so.
func checkCode(ev *Evidence, r *terminal.Redemption, keys map[string]string) []string {
	if ev.IssuerKey == nil {
		if ev.Decision.Result == terminal.Accepted && r.Kind == terminal.KindRedemption {
			return []string{"accepted redemption without the issuer key of its code"}
		}
		return nil
	}
	if keys[ev.IssuerKey.ID] != ev.IssuerKey.Public {
		return []string{"issuer key " + ev.IssuerKey.ID + " is not among the sample's issuer keys"}
	}
	pk, err := hex.DecodeString(ev.IssuerKey.Public)
	if err != nil {
		return []string{"issuer key: bad hex"}
	}
	kr, err := terminal.NewKeyring(pk)
	if err != nil {
		return []string{"issuer key: " + err.Error()}
	}
	v, err := kr.Verify(ev.Code)
	switch {
	case err != nil && ev.Decision.Standing == terminal.Counted:
		return []string{"voucher code does not verify, yet the server counted the record: " + err.Error()}
	case err == nil && v.ID != r.Voucher.ID:
		return []string{fmt.Sprintf("code is for voucher %s, the record names %s", v.ID, r.Voucher.ID)}
	case err == nil && !bytes.Equal(mustJSON(v), mustJSON(r.Voucher)) && r.Kind == terminal.KindRedemption:
		return []string{"the record's voucher differs from its code"}
	}
	return nil
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// checkDecision checks that the server's decision and the reasons the
// record was picked agree with the signed record.
func checkDecision(ev *Evidence, r *terminal.Redemption) []string {
	var errs []string
	d := ev.Decision
	switch d.Result {
	case terminal.Accepted, terminal.Conflict:
	default:
		errs = append(errs, "server decision "+string(d.Result)+" is neither accepted nor conflict")
	}
	if d.Result == terminal.Conflict && d.Why == "" {
		errs = append(errs, "a conflict without the server's reason")
	}
	if d.Result == terminal.Conflict && d.Standing != terminal.StandingOf(d.Why) {
		errs = append(errs, "standing "+string(d.Standing)+" does not follow from the server's reason")
	}
	for _, why := range ev.Reasons {
		ok := true
		switch why {
		case ReasonConflict:
			ok = d.Standing == terminal.Conflicted || d.Standing == terminal.RuleBreak
		case ReasonFlagged:
			ok = len(r.Flags) > 0
		case ReasonRefund:
			ok = r.Kind == terminal.KindRefund
		case ReasonOffline:
			ok = r.Kind == terminal.KindRedemption && !r.Online
		case ReasonLove:
			ok = r.Voucher.Category == terminal.Love
		case ReasonRefunded:
			ok = r.Kind == terminal.KindRedemption
		case ReasonMonetaryUnit:
			ok = r.DiscountFen > 0
		case ReasonRandom:
		default:
			ok = false
		}
		if !ok {
			errs = append(errs, "picked as "+why+", which the record is not")
		}
	}
	return errs
}
