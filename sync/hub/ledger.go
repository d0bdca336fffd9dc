package hub

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// jobKind says what a job asks of the committer.
type jobKind int

const (
	jobBatch jobKind = iota
	jobClaim
	jobRelease
	jobHello // a handshake's write (hello.go)
)

// job is one unit of work for the committer: a verified batch of records,
// a claim or a release, from connection c. The committer fills msg (the
// ack or claim_result) or err (the batch is refused: close the connection).
type job struct {
	kind     jobKind
	c        *conn
	term     string
	chain    string // where the terminal's records are kept: its id, or "T1#2" after a fork
	forked   bool   // the terminal's records are kept as a fork (conflicts, not decided)
	merchant string
	recs     []terminal.Sealed
	meta     []recMeta
	req      *wire.Message
	hello    *helloJob // jobHello
	// buf holds the batch message recs alias, reused once the job is
	// answered (conn.done).
	buf *msgBuf

	msg *wire.Message
	err error
	// forkedNow is set when this batch showed the terminal's ledger forked:
	// the connection ends after the ack, and the terminal reconnects to hear it.
	forkedNow bool
	// keys are the memo keys of a batch's records, made once (memoKeys).
	keys *batchMemos
}

// batchMemos are the keys of the memos every record of a batch reads.
type batchMemos struct{ sync, blocks, lane string }

// memoKeys returns the keys of the memos every record of batch j reads.
func (j *job) memoKeys() *batchMemos {
	if j.keys == nil {
		j.keys = &batchMemos{sync: syncMemo(j.term), blocks: blocksMemo(j.merchant), lane: laneMemo(j.chain)}
	}
	return j.keys
}

// recMeta is what the hub reads from a record's body (readBody).
type recMeta struct {
	Kind       terminal.Kind `json:"kind"`
	Seq        uint64        `json:"seq"`
	TerminalID string        `json:"terminal_id"`
	MerchantID string        `json:"merchant_id"`
	At         time.Time     `json:"at"`
	Voucher    struct {
		ID       terminal.VoucherID `json:"id"`
		Category terminal.Category  `json:"category"`
	} `json:"voucher"`
	DiscountFen terminal.Fen `json:"discount_fen"`
	RefundOf    string       `json:"refund_of"`

	// rec is the whole record (body), decoded on the connection's reader;
	// nil with invalid set if the body is not a record.
	rec  *terminal.Redemption
	body terminal.Redemption
	// invalid is why the body could not be decoded as a record.
	invalid string
	// checked is set once the record's chain, body and ids are verified.
	checked bool
	// forks is set on the first record of a batch that does not continue
	// the server's chain (a gap, another previous hash): a fork starts there.
	forks bool
	// minted is the code this server minted for the record's voucher, read
	// by the connection's reader (prefetchMinted); "" if none was then.
	minted string
	// id and holder are the record's id in its job's chain and its
	// holder's memo key, made by the connection's reader (prepare); "" if not.
	id, holder string
	// code is a redemption's code, decoded by the connection's reader
	// (prepare); the review checks it.
	code terminal.DecodedCode
}

// prepare makes on the connection's reader what the committer needs of
// each new record of a batch of chain: its id, its holder's memo key and
// a redemption's decoded code.
func prepare(meta []recMeta, recs []terminal.Sealed, chain, merchant string) {
	for i := range meta {
		if m := &meta[i]; m.checked && m.rec != nil {
			m.id = terminal.RecordID(chain, recs[i].Seq)
			m.holder = holderMemo(merchant, m.rec.Voucher.Holder)
			if m.Kind == terminal.KindRedemption {
				m.code.Decode(m.rec.Code)
			}
		}
	}
}

// holderKey returns the memo key of the record's holder at merchant.
func (m *recMeta) holderKey(merchant string) string {
	if m.holder == "" {
		m.holder = holderMemo(merchant, m.rec.Voucher.Holder)
	}
	return m.holder
}

// errRejected wraps the reason a batch is refused whole.
var errRejected = errors.New("record rejected")

// readBody decodes a record body (JSON of terminal.Redemption, as the
// terminal's ledger writes it) once, as encoding/json reads it (every
// other reader of stored bodies uses it), and takes the hub's fields from
// the record. A body that is JSON of the hub's fields but not a whole
// record (an item line of the wrong type, say) is kept with invalid
// saying why; one that is not even that is an error.
func readBody(b []byte, m *recMeta) error {
	*m = recMeta{}
	rec := &m.body
	err := terminal.DecodeRedemptionInto(b, rec)
	if err != nil {
		if err := json.Unmarshal(b, m); err != nil {
			return fmt.Errorf("record body: %w", err)
		}
		m.invalid = "body: " + err.Error()
		return nil
	}
	m.Kind, m.Seq, m.TerminalID, m.MerchantID, m.At = rec.Kind, rec.Seq, rec.TerminalID, rec.MerchantID, rec.At
	m.Voucher.ID, m.Voucher.Category = rec.Voucher.ID, rec.Voucher.Category
	m.DiscountFen, m.RefundOf, m.rec = rec.DiscountFen, rec.RefundOf, rec
	return nil
}

// verifyBatch checks a batch against the connection's chain position, parses
// the bodies and verifies the terminal's signature on the last record: the
// chain links every record to it. It runs on the connection's reader, in
// parallel with other terminals.
//
// The records' meta are made in meta's storage if it has room (it must
// hold nothing in use), each set whole.
func verifyBatch(meta []recMeta, recs []terminal.Sealed, term, merchant string, pub ed25519.PublicKey, next uint64, last [32]byte) ([]recMeta, error) {
	meta = slices.Grow(meta[:0], len(recs))[:len(recs)]
	// A gap: the terminal's ledger does not continue the server's.
	gap := recs[0].Seq > next
	if gap {
		next, last = recs[0].Seq, recs[0].Prev
	}
	for i := range recs {
		r, m := &recs[i], &meta[i]
		if r.Seq < next {
			*m = recMeta{}
			continue // a resend: the committer compares it with the stored record
		}
		forks := i == 0 && gap
		if r.Prev != last {
			if r.Seq != next || i > 0 && recs[i-1].Seq >= next {
				return nil, fmt.Errorf("%w: seq %d: prev hash does not match the chain", errRejected, r.Seq)
			}
			forks = true // another previous hash than the server's: a fork starts here
		}
		if terminal.ChainHash(r.Prev, r.Seq, r.Body) != r.Hash {
			return nil, fmt.Errorf("%w: seq %d: hash does not match the body", errRejected, r.Seq)
		}
		last = r.Hash
		err := readBody(r.Body, m) // sets *m whole
		m.forks = forks
		if err != nil {
			return nil, fmt.Errorf("%w: seq %d: %v", errRejected, r.Seq, err)
		}
		if m.TerminalID != term || m.MerchantID != merchant || m.Seq != r.Seq {
			return nil, fmt.Errorf("%w: seq %d: record of terminal %q merchant %q seq %d", errRejected, r.Seq, m.TerminalID, m.MerchantID, m.Seq)
		}
		switch m.Kind {
		case terminal.KindRedemption, terminal.KindRefund:
		default:
			return nil, fmt.Errorf("%w: seq %d: kind %q", errRejected, r.Seq, m.Kind)
		}
		m.checked = true
	}
	l := &recs[len(recs)-1]
	if l.Seq < next {
		return meta, nil // all resends
	}
	if !ed25519.Verify(pub, l.Hash[:], l.Sig) {
		return nil, fmt.Errorf("%w: seq %d: terminal signature does not verify", errRejected, l.Seq)
	}
	return meta, nil
}

// prefetchMinted reads the minted codes of a batch's vouchers on the
// connection's reader, in parallel with the committer, if the store can
// (MintedReader): a minted code never changes, so the committer uses one
// found here as it would its own lookup. A failed read only leaves the
// lookups to the committer.
func (h *Hub) prefetchMinted(meta []recMeta) {
	mr, ok := h.store.(MintedReader)
	if !ok {
		return
	}
	ids := make([]terminal.VoucherID, 0, len(meta))
	codes := make([]string, 0, len(meta))
	idx := make([]int, 0, len(meta))
	for i := range meta {
		if m := &meta[i]; m.checked && m.rec != nil {
			// The record's code: most often the minted one, and then kept.
			ids, codes, idx = append(ids, m.rec.Voucher.ID), append(codes, m.rec.Code), append(idx, i)
		}
	}
	if len(ids) == 0 {
		return
	}
	if err := mr.MintedCodes(h.ctx, ids, codes); err != nil {
		h.logf("hub: minted codes of a batch: %v", err)
		return
	}
	for k, i := range idx {
		meta[i].minted = codes[k]
	}
}

// committer runs group commits: it takes every job queued (up to GroupMax
// records) and applies them in one store transaction (one fsync), then
// answers each job's connection. On a store that can (Pipeliner) it
// decides a group while the one before it commits, and answers each group,
// in order, once its commit's result is known.
func (h *Hub) committer() {
	defer h.wg.Done()
	pl, _ := h.store.(Pipeliner)
	var fl *flight // a group decided, its commit under way
	for {
		var group []*job
		var landed <-chan struct{}
		if fl != nil {
			landed = fl.p.Done()
		}
		select {
		case j := <-h.claims:
			group = append(group, j)
		case j := <-h.jobs:
			group = append(group, j)
		case <-landed:
			h.land(fl)
			fl = nil
			continue
		case <-h.ctx.Done():
			if fl != nil {
				h.land(fl)
			}
			return
		}
		n := len(group[0].recs)
		// Claims first: they are answered while a cashier waits, and never
		// queue behind the batches of terminals draining a backlog.
	claims:
		for {
			select {
			case j := <-h.claims:
				group = append(group, j)
			default:
				break claims
			}
		}
	drain:
		for n < h.opts.GroupMax {
			select {
			case j := <-h.jobs:
				group = append(group, j)
				n += len(j.recs)
			default:
				break drain
			}
		}
		var next *flight
		if pl != nil && h.now().Sub(h.swept) < sweepEvery {
			next = h.launch(pl, group, fl) // a sweep's group runs alone, with Commit
		}
		if fl != nil && !h.land(fl) && next != nil {
			// next was decided over what fl left, and fl did not commit
			// through the pipeline: next rolls back and runs again.
			_ = next.p.Wait()
			next = nil
		}
		fl = next
		if fl == nil {
			h.commit(group)
			answer(group)
		}
	}
}

// flight is a group whose decisions are made while its commit is under way
// (Pipeliner).
type flight struct {
	group []*job
	p     Pending
	now   time.Time
	start time.Time
}

// launch decides a group over what prev (nil: none) leaves once committed,
// and starts its commit; nil if that failed (nothing is written: the
// group runs again with Commit).
func (h *Hub) launch(pl Pipeliner, group []*job, prev *flight) *flight {
	f := &flight{group: group, now: h.now(), start: time.Now()}
	params, err := h.params(h.ctx)
	if err != nil {
		return nil
	}
	var pp Pending
	if prev != nil {
		pp = prev.p
	}
	var dropped int
	f.p, err = pl.CommitAfter(h.ctx, groupKeys(group), func(tx Tx) error {
		return h.applyGroup(tx, group, f.now, params.WithDefaults(), false, &dropped)
	}, pp)
	if err != nil {
		h.logf("hub: pipelined commit of %d jobs: %v; run again alone", len(group), err)
		return nil
	}
	return f
}

// land waits for a flight's commit and answers its group: with the
// decisions made if it committed; with an error if its result is unknown;
// else after running the group again with Commit. It reports whether the
// flight committed as decided.
func (h *Hub) land(f *flight) bool {
	err := f.p.Wait()
	switch {
	case err == nil:
		h.settle(f.group, f.now, time.Since(f.start), nil)
	case errors.Is(err, ErrOutcomeUnknown):
		h.settle(f.group, f.now, time.Since(f.start), err)
	default:
		h.logf("hub: pipelined commit of %d jobs: %v; run again alone", len(f.group), err)
		h.commit(f.group)
	}
	answer(f.group)
	return err == nil
}

// answer sends each job of a group its answer.
func answer(group []*job) {
	for _, j := range group {
		if j.kind == jobHello {
			close(j.hello.done)
			continue
		}
		j.c.done(j)
	}
}

// sweepEvery is how often a group commit also drops expired holds.
const sweepEvery = time.Minute

// keys lists what a group reads, for the store to fetch and lock first.
func groupKeys(group []*job) *Keys {
	k := &Keys{}
	for _, j := range group {
		switch j.kind {
		case jobBatch:
			k.Terminals = append(k.Terminals, j.chain)
			k.Merchants = append(k.Merchants, j.merchant)
			mk := j.memoKeys()
			k.Memos = append(k.Memos, mk.sync, mk.blocks, mk.lane)
			if s := j.recs[0].Seq; s > 1 {
				k.Records = append(k.Records, RecordRef{TerminalID: j.chain, Seq: s - 1})
			}
			for i := range j.recs {
				m := &j.meta[i]
				switch {
				case !m.checked:
					k.Records = append(k.Records, RecordRef{TerminalID: j.chain, Seq: j.recs[i].Seq})
				case m.rec == nil:
				case m.Kind == terminal.KindRedemption:
					k.Vouchers = append(k.Vouchers, m.rec.Voucher.ID)
					k.Memos = append(k.Memos, m.holderKey(j.merchant))
				case m.Kind == terminal.KindRefund:
					k.Vouchers = append(k.Vouchers, m.rec.Voucher.ID)
					if _, seq, ok := terminal.ParseRecordID(m.RefundOf); ok {
						k.Records = append(k.Records, RecordRef{TerminalID: j.chain, Seq: seq})
						k.Memos = append(k.Memos, refundsMemo(terminal.RecordID(j.chain, seq)))
					}
				}
			}
		case jobClaim, jobRelease:
			k.Vouchers = append(k.Vouchers, j.req.Voucher)
			k.Merchants = append(k.Merchants, j.merchant)
		case jobHello:
			helloKeys(k, j)
		}
	}
	return k
}

// commit applies a group in one transaction; at most once every sweepEvery
// the same transaction also drops expired holds.
func (h *Hub) commit(group []*job) {
	now := h.now()
	sweep := now.Sub(h.swept) >= sweepEvery
	var dropped int
	start := time.Now()
	params, err := h.params(h.ctx)
	if err == nil {
		err = h.store.Commit(h.ctx, groupKeys(group), func(tx Tx) error {
			return h.applyGroup(tx, group, now, params.WithDefaults(), sweep, &dropped)
		})
	}
	if sweep {
		h.swept = now
	}
	h.settle(group, now, time.Since(start), err)
	if err == nil && dropped > 0 {
		h.logf("hub: dropped %d expired holds", dropped)
	}
}

// settle reports a group commit's result (err: none of it committed, or
// ErrOutcomeUnknown) and, after a failure, gives each job the error.
func (h *Hub) settle(group []*job, now time.Time, took time.Duration, err error) {
	h.observe(group, took, err, now)
	if err != nil {
		h.logf("hub: commit of %d jobs failed: %v", len(group), err)
		for _, j := range group {
			j.msg, j.err = nil, fmt.Errorf("commit: %w", err)
		}
	}
}

// observe reports a group commit to the hooks and notes the terminals
// whose records it acknowledged.
func (h *Hub) observe(group []*job, took time.Duration, err error, now time.Time) {
	hk := &h.opts.Hooks
	recs, claims := 0, 0
	for _, j := range group {
		if j.kind == jobHello {
			continue
		}
		if j.kind != jobBatch {
			claims++
			if err == nil && j.err == nil && j.msg != nil && hk.Claim != nil && j.kind == jobClaim {
				hk.Claim(j.msg.Result)
			}
			continue
		}
		recs += len(j.recs)
		if err != nil || j.err != nil || j.msg == nil {
			continue
		}
		h.noteSync(j.term, now)
		if hk.Outcome != nil {
			for _, o := range j.msg.Outcomes {
				hk.Outcome(o.Result)
			}
		}
	}
	if hk.GroupCommit != nil {
		hk.GroupCommit(recs, claims, took, err)
	}
}

// applyGroup applies every job of a group in tx (safe to run again).
func (h *Hub) applyGroup(btx Tx, group []*job, now time.Time, params terminal.Params, sweep bool, dropped *int) error {
	*dropped = 0
	tx := newGroupTx(btx, group)
	for _, j := range group {
		j.msg, j.err, j.forkedNow = nil, nil, false
		switch j.kind {
		case jobBatch:
			j.err = h.applyBatch(tx, j, now, params)
		case jobClaim:
			j.msg, j.err = h.applyClaim(tx, j, now)
		case jobRelease:
			j.msg, j.err = h.applyRelease(tx, j)
		case jobHello:
			j.err = h.applyHello(tx, j)
		}
		if j.err != nil && !errors.Is(j.err, errRejected) {
			return j.err
		}
	}
	if sweep {
		var err error
		if *dropped, err = tx.DeleteHoldsBefore(now); err != nil {
			return fmt.Errorf("drop expired holds: %w", err)
		}
	}
	return tx.flush()
}

func (h *Hub) applyBatch(tx *groupTx, j *job, now time.Time, params terminal.Params) error {
	if j.forked {
		return h.keepFork(tx, j, j.chain, 0, nil)
	}
	hd, err := tx.Head(j.chain)
	if err != nil {
		return err
	}
	w, last := hd.Seq, hd.Hash
	var prevAt time.Time
	if w > 0 {
		prev, ok, err := tx.Record(j.chain, w)
		if err != nil {
			return err
		}
		if ok && !prev.At.After(now) {
			prevAt = prev.At // a future-dated record does not move the bound
		}
	}
	outs := make([]terminal.Outcome, 0, len(j.recs))
	var sr StoredRecord // one for the batch: PutRecord keeps none
	for i := range j.recs {
		r, m := &j.recs[i], &j.meta[i]
		if r.Seq <= w {
			o := terminal.Outcome{Seq: r.Seq, Result: terminal.Duplicate}
			st, ok, err := tx.Record(j.chain, r.Seq)
			switch {
			case err != nil:
				return err
			case !ok || st.Hash != r.Hash:
				// Another record under a stored sequence: the terminal's
				// ledger is not the one the server holds.
				return h.startFork(tx, j, i, outs, now, fmt.Sprintf("seq %d differs from the record the server holds under it", r.Seq))
			case st.Result == terminal.Conflict:
				// A conflict is never hidden behind "duplicate": the
				// terminal may have lost the first answer.
				o.Result, o.Code, o.Detail = terminal.Conflict, detailCode(st.Detail), st.Detail
			default:
				o.Detail = "already stored as " + string(st.Result)
			}
			outs = append(outs, o)
			continue
		}
		if m.checked && m.forks {
			return h.startFork(tx, j, i, outs, now, fmt.Sprintf("seq %d does not continue the server's chain at seq %d", r.Seq, w))
		}
		if !m.checked || r.Seq != w+1 || r.Prev != last {
			// The records before this one are good and stay, with the head
			// moved over them; the connection is closed and the terminal resends.
			if err := tx.SetHead(j.chain, Head{w, last}); err != nil {
				return err
			}
			return fmt.Errorf("%w: seq %d does not follow the stored chain at %d", errRejected, r.Seq, w)
		}
		o, err := h.decide(tx, j, m, r.Seq, prevAt, now, params)
		if err != nil {
			return err
		}
		sr = StoredRecord{TerminalID: j.chain, Seq: r.Seq, MerchantID: j.merchant, At: m.At, Kind: m.Kind,
			Voucher: m.Voucher.ID, Hash: r.Hash, Sig: r.Sig, Body: r.Body, Result: o.Result, Detail: o.Detail}
		if err := tx.PutRecord(&sr); err != nil {
			return err
		}
		outs = append(outs, o)
		w, last = r.Seq, r.Hash
		if m.At.After(prevAt) && !m.At.After(now) {
			prevAt = m.At
		}
	}
	if err := tx.SetHead(j.chain, Head{w, last}); err != nil {
		return err
	}
	j.msg = &wire.Message{Type: wire.TypeAck, Watermark: w, Upto: j.recs[len(j.recs)-1].Seq, Outcomes: outs}
	return nil
}

// decide returns the outcome of a new record: the till's rules decide it
// again on the server (review; a code this hub minted is compared with
// the one minted); a redemption they approve is accepted unless its
// voucher is held by another terminal's online claim; an accepted refund
// that returns the voucher frees it again. Anything else is kept as a
// conflict with its code and reason for the auditors.
func (h *Hub) decide(tx *groupTx, j *job, m *recMeta, seq uint64, prevAt, now time.Time, params terminal.Params) (terminal.Outcome, error) {
	o := terminal.Outcome{Seq: seq, Result: terminal.Accepted}
	id := m.id
	if id == "" {
		id = terminal.RecordID(j.chain, seq)
	}
	rec := m.rec
	var decline *terminal.Error
	var held bool
	if rec == nil {
		decline = terminal.Errorf(terminal.Malformed, "%s", m.invalid)
	} else {
		v, hold, err := h.review(tx, j, m, prevAt, now, params)
		if err != nil {
			return o, err
		}
		decline, held = v.Decline, hold
		if decline == nil && rec.Kind == terminal.KindRefund {
			return h.acceptRefund(tx, j, rec, &v, o)
		}
	}
	against := ""
	if decline == nil {
		hd, ok, err := tx.Hold(rec.Voucher.ID)
		if err != nil {
			return o, err
		}
		if ok && hd.TerminalID != j.term && now.Before(hd.Until) {
			decline = terminal.Declinef(terminal.AlreadyRedeemed, terminal.ReasonHeldElsewhere,
				"voucher held by terminal %s for an online redemption", hd.TerminalID)
		}
	}
	if decline != nil && decline.Code == terminal.AlreadyRedeemed && rec != nil {
		cur, _, err := tx.Redeemed(rec.Voucher.ID)
		if err != nil {
			return o, err
		}
		against = cur
	}
	if decline != nil {
		o.Result, o.Code, o.Detail = terminal.Conflict, decline.Code, conflictDetail(decline)
		c := Conflict{RecordID: id, TerminalID: j.term, MerchantID: j.merchant, Seq: seq, Voucher: m.Voucher.ID,
			Category: m.Voucher.Category, DiscountFen: m.DiscountFen, At: m.At, Against: against,
			Code: decline.Code, Reason: o.Detail}
		return o, tx.AddConflict(&c)
	}
	if err := tx.SetRedeemed(rec.Voucher.ID, id); err != nil {
		return o, err
	}
	if err := remember(tx, j, m, id); err != nil {
		return o, err
	}
	if held {
		return o, tx.DeleteHold(rec.Voucher.ID)
	}
	return o, nil
}

// acceptRefund stores what an accepted refund changes: its sale's prior
// refunds, and a returned voucher freed for its holder.
func (h *Hub) acceptRefund(tx *groupTx, j *job, rec *terminal.Redemption, v *terminal.Verdict, o terminal.Outcome) (terminal.Outcome, error) {
	_, seq, _ := terminal.ParseRecordID(rec.RefundOf)
	saleID := terminal.RecordID(j.chain, seq)
	if err := rememberRefund(tx, saleID, rec); err != nil {
		return o, err
	}
	if !rec.VoucherReturned {
		return o, nil
	}
	cur, ok, err := tx.Redeemed(rec.Voucher.ID)
	if err != nil {
		return o, err
	}
	if v.ReturnsVoucher && ok && cur == saleID {
		// The voucher goes back to its holder and may be redeemed again.
		return o, tx.ClearRedeemed(rec.Voucher.ID)
	}
	o.Detail = "voucher not returned: " + rec.RefundOf + " is not its live accepted redemption"
	return o, nil
}

// checkCode returns why code is not a good code for voucher id, or "". A
// code this hub minted is compared with the stored one (no signature
// check needed); any other is verified against the hub's keys.
func (h *Hub) checkCode(tx Tx, code string, id terminal.VoucherID) (string, error) {
	minted, ok, err := tx.Minted(id)
	if err != nil {
		return "", err
	}
	if ok {
		if minted != code {
			return "code differs from the one minted for this voucher", nil
		}
		return "", nil
	}
	_, keys := h.signing()
	v, err := keys.Verify(code)
	if err != nil {
		return "code does not verify: " + err.Error(), nil
	}
	if v.ID != id {
		return fmt.Sprintf("code is for voucher %s", v.ID), nil
	}
	return "", nil
}

func (h *Hub) applyClaim(tx Tx, j *job, now time.Time) (*wire.Message, error) {
	req := j.req
	ans := &wire.Message{Type: wire.TypeClaimResult, ID: req.ID, Voucher: req.Voucher}
	if j.c != nil && j.c.forked != "" {
		ans.Result, ans.Detail = wire.ClaimForked, j.c.forked
		return ans, nil
	}
	v := req.Voucher
	m, ok, err := tx.Merchant(j.merchant)
	if err != nil {
		return nil, err
	}
	if !ok || m.Blocked {
		ans.Result, ans.Detail = wire.ClaimBlocked, "merchant "+j.merchant+" is blocked"
		return ans, nil
	}
	reason, err := h.checkCode(tx, req.Code, v)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		ans.Result, ans.Detail = wire.ClaimInvalid, reason
		return ans, nil
	}
	if revoked, err := tx.Revoked(v); err != nil {
		return nil, err
	} else if revoked {
		ans.Result, ans.Detail = wire.ClaimRevoked, "voucher revoked"
		return ans, nil
	}
	if cur, ok, err := tx.Redeemed(v); err != nil {
		return nil, err
	} else if ok {
		ans.Result, ans.Detail = wire.ClaimConflict, "already redeemed by "+cur
		return ans, nil
	}
	if hd, ok, err := tx.Hold(v); err != nil {
		return nil, err
	} else if ok && hd.TerminalID != j.term && now.Before(hd.Until) {
		ans.Result, ans.Detail, ans.Until = wire.ClaimConflict, "held by terminal "+hd.TerminalID, hd.Until
		return ans, nil
	}
	hd := Hold{TerminalID: j.term, Until: now.Add(h.opts.HoldTTL)}
	if err := tx.PutHold(v, hd); err != nil {
		return nil, err
	}
	ans.Result, ans.Until = wire.ClaimOK, hd.Until
	return ans, nil
}

func (h *Hub) applyRelease(tx Tx, j *job) (*wire.Message, error) {
	req := j.req
	ans := &wire.Message{Type: wire.TypeClaimResult, ID: req.ID, Voucher: req.Voucher, Result: wire.ClaimOK}
	hd, ok, err := tx.Hold(req.Voucher)
	if err != nil {
		return nil, err
	}
	if ok && hd.TerminalID == j.term {
		if err := tx.DeleteHold(req.Voucher); err != nil {
			return nil, err
		}
	}
	return ans, nil
}

// startFork marks the terminal forked (reason) and keeps the records of j
// from index i on in a new fork chain; outs are the outcomes of those before.
func (h *Hub) startFork(tx Tx, j *job, i int, outs []terminal.Outcome, now time.Time, reason string) error {
	// The records before i continue the chain and stay, with the head over them.
	if i > 0 {
		prev := &j.recs[i-1]
		if hd, err := tx.Head(j.chain); err != nil {
			return err
		} else if prev.Seq > hd.Seq {
			if err := tx.SetHead(j.chain, Head{prev.Seq, prev.Hash}); err != nil {
				return err
			}
		}
	}
	var cs chainState
	if err := getMemo(tx, chainMemo(j.term), &cs); err != nil {
		return err
	}
	if cs.Fork == 0 {
		cs.fork(now, reason)
		if err := putMemo(tx, chainMemo(j.term), cs); err != nil {
			return err
		}
	}
	h.noteAlarm(j.term, "%s; its records are kept as fork %s", reason, cs.current(j.term))
	j.forkedNow = true
	return h.keepFork(tx, j, cs.current(j.term), i, outs)
}

// keepFork stores the records of j from index i on in its fork chain, each
// a conflict with code fork for the auditors; none is decided or counted.
// A fork chain starts wherever the terminal's records start.
func (h *Hub) keepFork(tx Tx, j *job, chain string, i int, outs []terminal.Outcome) error {
	var cs chainState
	if err := getMemo(tx, chainMemo(j.term), &cs); err != nil {
		return err
	}
	detail := forkDetail(&cs)
	hd, err := tx.Head(chain)
	if err != nil {
		return err
	}
	w, last := hd.Seq, hd.Hash
	for ; i < len(j.recs); i++ {
		r, m := &j.recs[i], &j.meta[i]
		if w == 0 && last == ([32]byte{}) {
			w, last = r.Seq-1, r.Prev
		}
		if r.Seq <= w {
			st, ok, err := tx.Record(chain, r.Seq)
			if err != nil {
				return err
			}
			o := terminal.Outcome{Seq: r.Seq, Result: terminal.Conflict, Code: terminal.Fork, Detail: detail}
			if !ok || st.Hash != r.Hash {
				o.Detail = "differs from the record stored for this sequence; " + detail
			}
			outs = append(outs, o)
			continue
		}
		if r.Seq != w+1 || r.Prev != last {
			if err := tx.SetHead(chain, Head{w, last}); err != nil {
				return err
			}
			return fmt.Errorf("%w: seq %d does not follow the fork chain at %d", errRejected, r.Seq, w)
		}
		if !m.checked {
			// Sent under a sequence the server's chain already has: the
			// reader left it to the committer. Kept only if it is the
			// terminal's own, whole record.
			if err := checkKept(r, m, j); err != nil {
				if err := tx.SetHead(chain, Head{w, last}); err != nil {
					return err
				}
				return err
			}
		}
		sr := StoredRecord{TerminalID: chain, Seq: r.Seq, MerchantID: j.merchant, At: m.At, Kind: m.Kind,
			Voucher: m.Voucher.ID, Hash: r.Hash, Sig: r.Sig, Body: r.Body, Result: terminal.Conflict, Detail: detail}
		if err := tx.PutRecord(&sr); err != nil {
			return err
		}
		c := Conflict{RecordID: sr.ID(), TerminalID: j.term, MerchantID: j.merchant, Seq: r.Seq, Voucher: m.Voucher.ID,
			Category: m.Voucher.Category, DiscountFen: m.DiscountFen, At: m.At, Code: terminal.Fork, Reason: detail}
		if err := tx.AddConflict(&c); err != nil {
			return err
		}
		outs = append(outs, terminal.Outcome{Seq: r.Seq, Result: terminal.Conflict, Code: terminal.Fork, Detail: detail})
		w, last = r.Seq, r.Hash
	}
	if err := tx.SetHead(chain, Head{w, last}); err != nil {
		return err
	}
	j.msg = &wire.Message{Type: wire.TypeAck, Watermark: w, Upto: j.recs[len(j.recs)-1].Seq, Outcomes: outs}
	return nil
}

// checkKept verifies a record the reader did not (one sent under a sequence
// the server's chain already holds) before it is kept as a fork: its hash,
// the terminal's signature, and a body of this terminal's.
func checkKept(r *terminal.Sealed, m *recMeta, j *job) error {
	if terminal.ChainHash(r.Prev, r.Seq, r.Body) != r.Hash {
		return fmt.Errorf("%w: seq %d: hash does not match the body", errRejected, r.Seq)
	}
	if j.c == nil || !ed25519.Verify(j.c.pub, r.Hash[:], r.Sig) {
		return fmt.Errorf("%w: seq %d: terminal signature does not verify", errRejected, r.Seq)
	}
	if err := readBody(r.Body, m); err != nil {
		return fmt.Errorf("%w: seq %d: %v", errRejected, r.Seq, err)
	}
	if m.TerminalID != j.term || m.MerchantID != j.merchant || m.Seq != r.Seq {
		return fmt.Errorf("%w: seq %d: record of terminal %q merchant %q seq %d", errRejected, r.Seq, m.TerminalID, m.MerchantID, m.Seq)
	}
	m.checked = true
	return nil
}
