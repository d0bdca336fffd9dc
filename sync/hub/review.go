package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// The server decides every synced record again with the till's rules
// (terminal.Rules.Review), from what it knows itself. What the rules need
// beyond the store's indexes the hub keeps as memos (Tx.Memo), in the same
// transaction as the records they describe:
//
//	holder/<merchant>/<holder>  the holder's recent accepted redemptions there (split bill),
//	                            dropped once no record can need it (Hub.SweepMemos)
//	lane/<chain>                the chain's latest accepted redemption (linked-transaction flags)
//	refunds/<record id>         the accepted refunds of a sale (PlanRefund's prior refunds)
//	sync/<terminal>             the terminal's recent handshakes (its last sync before a record)
//	blocks/<merchant>           the merchant's block periods (its profile at a record's time)

// holderMemo is "holder/<merchant>/<holder as 16 upper-case hex digits>",
// put together without fmt: it is made three times for every record.
func holderMemo(merchant string, h terminal.HolderID) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, len(ExpiringMemoPrefix)+len(merchant)+1+16)
	b = append(b, ExpiringMemoPrefix...)
	b = append(b, merchant...)
	b = append(b, '/')
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[uint64(h)>>shift&0xF])
	}
	return string(b)
}

// ExpiringMemoPrefix starts every holder memo's key: the memos the hub
// drops once no record can need them (Hub.SweepMemos), within about three
// days of their newest redemption. A store may keep them apart from the
// others (boltstore keeps them in memory and a log).
const ExpiringMemoPrefix = "holder/"

func laneMemo(chain string) string       { return "lane/" + chain }
func refundsMemo(recordID string) string { return "refunds/" + recordID }
func syncMemo(term string) string        { return "sync/" + term }
func blocksMemo(merchant string) string  { return "blocks/" + merchant }

// holderKeep is how long a holder's redemption is remembered: records reach
// the server out of time order by up to the offline age limit.
const holderKeep = 72 * time.Hour

// maxHellos bounds the handshakes remembered per terminal.
const maxHellos = 64

// hello is one handshake of a terminal: when (server clock) and the highest
// sequence it reported. A record above HighSeq was made after it.
type hello struct {
	At      time.Time `json:"at"`
	HighSeq uint64    `json:"high_seq"`
	// OfflineFen is the discount of offline redemptions made after this
	// handshake, as far as the server has seen them.
	OfflineFen terminal.Fen `json:"offline_fen"`
}

// period is a block of a merchant: from From until Until (zero: still blocked).
type period struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until,omitzero"`
}

func getMemo[T any](tx Tx, key string, v *T) error {
	b, ok, err := tx.Memo(key)
	if err != nil || !ok {
		return err
	}
	if err := decodeMemo(b, v); err != nil {
		return fmt.Errorf("memo %s: %w", key, err)
	}
	return nil
}

func putMemo(tx Tx, key string, v any) error {
	b, err := encodeMemo(v)
	if err != nil {
		return err
	}
	return tx.PutMemo(key, b)
}

// groupTx is the transaction of one group commit, with the memos and
// merchants its records read decoded once: a memo many records change
// (the terminal's syncs, its lane's latest) is encoded and written once,
// when the group ends (flush), instead of at every record. It is made
// afresh each time the store runs the commit's function.
type groupTx struct {
	Tx
	// memos are the memos read, decoded, found by index; order the
	// changed ones, by their place in memos, in the order first changed.
	memos     []cachedMemo
	index     map[string]int
	order     []int
	merchants map[string]cachedMerchant
	// led and merchant are review's, for the record it reviews: the
	// rules keep neither after Review returns.
	led      txLedgers
	merchant terminal.Merchant
}

// cachedMemo is a memo a group read: v a *T, decoded.
type cachedMemo struct {
	key   string
	v     any
	dirty bool
}

type cachedMerchant struct {
	m  terminal.Merchant
	ok bool
}

// newGroupTx makes group's transaction, its memos sized for the group's
// records: most read a memo of their own (a holder's).
func newGroupTx(tx Tx, group []*job) *groupTx {
	n := 8
	for _, j := range group {
		n += len(j.recs)
	}
	return &groupTx{Tx: tx, memos: make([]cachedMemo, 0, n), index: make(map[string]int, n), order: make([]int, 0, n),
		merchants: map[string]cachedMerchant{}}
}

// memo returns the memo under key (a zero T if there is none), decoded
// once per group and shared by its records: call g.changed(key) after
// changing it.
func memo[T any](g *groupTx, key string) (*T, error) {
	if i, ok := g.index[key]; ok {
		p, ok := g.memos[i].v.(*T)
		if !ok {
			return nil, fmt.Errorf("memo %s: read as %T and as %T", key, g.memos[i].v, p)
		}
		return p, nil
	}
	p := new(T)
	if err := getMemo(g.Tx, key, p); err != nil {
		return nil, err
	}
	g.index[key] = len(g.memos)
	g.memos = append(g.memos, cachedMemo{key: key, v: p})
	return p, nil
}

// changed marks the memo under key, read with memo, to be written at flush.
func (g *groupTx) changed(key string) {
	i, ok := g.index[key]
	if ok && !g.memos[i].dirty {
		g.memos[i].dirty = true
		g.order = append(g.order, i)
	}
}

// flush writes the changed memos.
func (g *groupTx) flush() error {
	for _, i := range g.order {
		m := &g.memos[i]
		if err := putMemo(g.Tx, m.key, m.v); err != nil {
			return err
		}
		m.dirty = false
	}
	g.order = g.order[:0]
	return nil
}

// Memo reads a memo through the group: a changed one is written first.
func (g *groupTx) Memo(key string) ([]byte, bool, error) {
	if i, ok := g.index[key]; ok && g.memos[i].dirty {
		if err := putMemo(g.Tx, key, g.memos[i].v); err != nil {
			return nil, false, err
		}
		g.memos[i].dirty = false
		g.order = slices.DeleteFunc(g.order, func(k int) bool { return k == i })
	}
	return g.Tx.Memo(key)
}

// PutMemo writes a memo through the group: its decoded copy is dropped.
func (g *groupTx) PutMemo(key string, v []byte) error {
	g.forget(key)
	return g.Tx.PutMemo(key, v)
}

// DeleteMemo drops a memo through the group, with its decoded copy.
func (g *groupTx) DeleteMemo(key string) error {
	g.forget(key)
	return g.Tx.DeleteMemo(key)
}

// forget drops the group's decoded copy of a memo, changed or not.
func (g *groupTx) forget(key string) {
	if i, ok := g.index[key]; ok {
		delete(g.index, key)
		if g.memos[i].dirty {
			g.order = slices.DeleteFunc(g.order, func(k int) bool { return k == i })
		}
	}
}

// Merchant returns a merchant, read once per group.
func (g *groupTx) Merchant(id string) (terminal.Merchant, bool, error) {
	if c, ok := g.merchants[id]; ok {
		return c.m, c.ok, nil
	}
	m, ok, err := g.Tx.Merchant(id)
	if err == nil {
		g.merchants[id] = cachedMerchant{m, ok}
	}
	return m, ok, err
}

// lastSync returns the terminal's last handshake before a record of seq
// was made (the latest whose high sequence is below seq) and its index.
func lastSync(hellos []hello, seq uint64) (int, bool) {
	for i := len(hellos) - 1; i >= 0; i-- {
		if hellos[i].HighSeq < seq {
			return i, true
		}
	}
	return 0, false
}

// recordHello remembers a handshake, keeping only those the records still
// to come can refer to (from the last one below the watermark on).
func recordHello(tx Tx, term string, hl hello, watermark uint64) error {
	var hs []hello
	if err := getMemo(tx, syncMemo(term), &hs); err != nil {
		return err
	}
	hs = append(hs, hl)
	if i, ok := lastSync(hs, watermark+1); ok {
		hs = hs[i:]
	}
	if len(hs) > maxHellos {
		hs = hs[len(hs)-maxHellos:]
	}
	return putMemo(tx, syncMemo(term), hs)
}

// blockedAt reports whether a merchant was blocked at t: a period covers
// t, or it is blocked now and no period says since when.
func blockedAt(m *terminal.Merchant, periods []period, t time.Time) bool {
	if m.Blocked && len(periods) == 0 {
		return true
	}
	for _, p := range periods {
		if !t.Before(p.From) && (p.Until.IsZero() || t.Before(p.Until)) {
			return true
		}
	}
	return false
}

// txLedgers shows the store's records to Rules.Review through one
// transaction; the first store error is kept and ends the commit.
type txLedgers struct {
	tx    *groupTx
	chain string
	err   error
	// voucher's minted code was read before the commit ("" if none was).
	voucher terminal.VoucherID
	minted  string
	// holder's memo key at merchant is holderKey.
	merchant  string
	holder    terminal.HolderID
	holderKey string
	lane      string // the chain's lane memo key ("": make it)
}

var (
	_ terminal.Ledgers     = (*txLedgers)(nil)
	_ terminal.MintedCodes = (*txLedgers)(nil)
)

func (l *txLedgers) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

func (l *txLedgers) Redeemed(id terminal.VoucherID) bool {
	_, ok, err := l.tx.Redeemed(id)
	l.fail(err)
	return ok || err != nil
}

func (l *txLedgers) Revoked(id terminal.VoucherID) bool {
	ok, err := l.tx.Revoked(id)
	l.fail(err)
	return ok || err != nil
}

// MintedCode returns the code this server minted for a voucher: the
// rules compare a record's code with it instead of checking its signature.
func (l *txLedgers) MintedCode(id terminal.VoucherID) (string, bool) {
	if id == l.voucher && l.minted != "" {
		return l.minted, true // a minted code never changes
	}
	code, ok, err := l.tx.Minted(id)
	l.fail(err)
	return code, ok && err == nil
}

func (l *txLedgers) NearestByHolder(merchant string, h terminal.HolderID, at time.Time) (terminal.Recent, bool) {
	key := l.holderKey
	if merchant != l.merchant || h != l.holder {
		key = holderMemo(merchant, h)
	}
	rs, err := memo[recents](l.tx, key)
	if err != nil {
		l.fail(err)
		return terminal.Recent{}, false
	}
	best, ok := terminal.Recent{}, false
	for _, r := range *rs {
		if !ok || absDur(r.At.Sub(at)) < absDur(best.At.Sub(at)) {
			best, ok = r, true
		}
	}
	return best, ok
}

func (l *txLedgers) LastOnLane(_ string, at time.Time) (terminal.Recent, bool) {
	key := l.lane
	if key == "" {
		key = laneMemo(l.chain)
	}
	r, err := memo[laneRecent](l.tx, key)
	if err != nil {
		l.fail(err)
		return terminal.Recent{}, false
	}
	return terminal.Recent(*r), r.RedemptionID != "" && !r.At.After(at)
}

// Sale returns a sale of the reviewed terminal's chain by the terminal's
// own record id ("T1-0000000042").
func (l *txLedgers) Sale(id string) (*terminal.Redemption, bool, []*terminal.Redemption, error) {
	_, seq, ok := terminal.ParseRecordID(id)
	if !ok {
		return nil, false, nil, fmt.Errorf("record id %q: %w", id, terminal.ErrNotFound)
	}
	st, ok, err := l.tx.Record(l.chain, seq)
	if err != nil {
		l.fail(err)
		return nil, false, nil, err
	}
	if !ok || st.Kind != terminal.KindRedemption {
		return nil, false, nil, fmt.Errorf("sale %s: %w", id, terminal.ErrNotFound)
	}
	var sale terminal.Redemption
	if err := json.Unmarshal(st.Body, &sale); err != nil {
		return nil, false, nil, fmt.Errorf("sale %s: %v: %w", id, err, terminal.ErrNotFound)
	}
	prior, err := memo[[]*terminal.Redemption](l.tx, refundsMemo(st.ID()))
	if err != nil {
		l.fail(err)
		return nil, false, nil, err
	}
	return &sale, st.Result == terminal.Accepted, slices.Clone(*prior), nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// review decides a new record of job j (meta.rec) with the till's rules and params.
// prevAt is the time of the chain's previous record. It returns the verdict
// and whether this terminal holds an online claim on the voucher; a store
// error ends the commit.
func (h *Hub) review(tx *groupTx, j *job, meta *recMeta, prevAt, now time.Time, params terminal.Params) (terminal.Verdict, bool, error) {
	rec := meta.rec
	led := &tx.led
	*led = txLedgers{tx: tx, chain: j.chain, voucher: rec.Voucher.ID, minted: meta.minted,
		merchant: rec.MerchantID, holder: rec.Voucher.Holder, holderKey: meta.holderKey(rec.MerchantID)}
	mk := j.memoKeys()
	led.lane = mk.lane
	_, keys := h.signing()
	rules := terminal.Rules{Programme: h.prog, Keys: keys, Revoked: led, Params: params, Minted: led}
	s := sender(j, meta, prevAt, now)
	m, ok, err := tx.Merchant(j.merchant)
	if err != nil {
		return terminal.Verdict{}, false, err
	}
	if ok {
		periods, err := memo[[]period](tx, mk.blocks)
		if err != nil {
			return terminal.Verdict{}, false, err
		}
		m.Blocked = blockedAt(&m, *periods, rec.At)
		tx.merchant = m
		s.Merchant = &tx.merchant
	}
	hsp, err := memo[[]hello](tx, mk.sync)
	if err != nil {
		return terminal.Verdict{}, false, err
	}
	hs := *hsp
	i, synced := lastSync(hs, rec.Seq)
	if synced {
		s.LastSync, s.UnsyncedFen = hs[i].At, hs[i].OfflineFen
	}
	held := false
	if rec.Kind == terminal.KindRedemption {
		hd, ok, err := tx.Hold(rec.Voucher.ID)
		if err != nil {
			return terminal.Verdict{}, false, err
		}
		held = ok && hd.TerminalID == j.term
		s.Held = held && rec.Online
	}
	v := rules.Review(rec, s, led)
	if led.err != nil {
		return v, false, led.err
	}
	if rec.Kind == terminal.KindRedemption && !s.Held && synced {
		// The till counts every offline redemption against its allowance.
		hs[i].OfflineFen += rec.DiscountFen
		tx.changed(mk.sync)
	}
	return v, held, nil
}

// sender is what the review knows of the terminal that sent meta's record
// in job j, with the record's code as the connection's reader decoded it.
func sender(j *job, meta *recMeta, prevAt, now time.Time) *terminal.Sender {
	return &terminal.Sender{TerminalID: j.term, ReceivedAt: now, PrevAt: prevAt,
		ConnectedAt: j.c.helloAt, ConnectedSeq: j.c.helloSeq, Code: &meta.code}
}

// remember keeps what later reviews need of an accepted redemption: the
// holder's split-bill memory at its merchant and the chain's latest.
func remember(tx *groupTx, j *job, m *recMeta, id string) error {
	rec := m.rec
	r := terminal.RecentOf(rec)
	r.RedemptionID = id
	key := m.holderKey(rec.MerchantID)
	rs, err := memo[recents](tx, key)
	if err != nil {
		return err
	}
	*rs = append(*rs, r)
	newest := r.At
	for _, x := range *rs {
		if x.At.After(newest) {
			newest = x.At
		}
	}
	*rs = slices.DeleteFunc(*rs, func(x terminal.Recent) bool { return newest.Sub(x.At) > holderKeep })
	tx.changed(key)
	lane := j.memoKeys().lane
	last, err := memo[laneRecent](tx, lane)
	if err != nil {
		return err
	}
	if last.RedemptionID == "" || !r.At.Before(last.At) {
		*last = laneRecent(r)
		tx.changed(lane)
	}
	return nil
}

// rememberRefund adds an accepted refund to its sale's prior refunds.
func rememberRefund(tx *groupTx, saleID string, rec *terminal.Redemption) error {
	prior, err := memo[[]*terminal.Redemption](tx, refundsMemo(saleID))
	if err != nil {
		return err
	}
	*prior = append(*prior, rec)
	tx.changed(refundsMemo(saleID))
	return nil
}

// conflictDetail is what the terminal, the reports and the auditors read
// of a record the server did not accept: a rule broken starts with
// terminal.RuleBreakPrefix, a voucher taken elsewhere does not.
func conflictDetail(e *terminal.Error) string {
	line := terminal.Explain(e)
	switch e.Code {
	case terminal.AlreadyRedeemed, terminal.Revoked, terminal.Fork:
		return line
	}
	return terminal.RuleBreakPrefix + line
}

// detailCode reads the code back from a conflict's detail (conflictDetail);
// "" for a detail from before codes were kept.
func detailCode(detail string) terminal.Code {
	d := strings.TrimPrefix(detail, terminal.RuleBreakPrefix)
	c, _, ok := strings.Cut(d, ": ")
	if !ok || !terminal.Code(c).Known() {
		return ""
	}
	return terminal.Code(c)
}

// A terminal's chain and its forks. A terminal whose ledger does not
// continue what the server holds for it (wiped or restored: a new chain at
// sequence 1, a gap, a different previous hash, a record that differs from
// the one stored under its sequence) is forked: from then on everything it
// sends is kept, each record a conflict with code fork, in a chain of its
// own ("T1#1"), until an administrator resets the terminal after an
// investigation (ResetTerminal). The reset makes the kept chain the
// terminal's own (its records stay conflicts for the auditors) and what
// follows it is decided as usual.

func chainMemo(term string) string { return "chain/" + term }

// chainState is a terminal's chains: the one it redeems on and, while it
// is forked, the one its records are kept in.
type chainState struct {
	// Epoch numbers the terminal's accepted chain (0: its first, stored under its id).
	Epoch int `json:"epoch"`
	// Fork numbers the chain kept as a fork; 0 when the terminal is not forked.
	Fork int `json:"fork,omitempty"`
	// Last is the highest chain number used.
	Last   int       `json:"last"`
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// chainID returns where chain n of a terminal is stored.
func chainID(term string, n int) string {
	if n == 0 {
		return term
	}
	return fmt.Sprintf("%s#%d", term, n)
}

// current returns the chain the terminal's records go to now.
func (cs *chainState) current(term string) string {
	if cs.Fork != 0 {
		return chainID(term, cs.Fork)
	}
	return chainID(term, cs.Epoch)
}

// fork starts keeping the terminal's records as a fork, for reason.
func (cs *chainState) fork(now time.Time, reason string) {
	cs.Last++
	cs.Fork, cs.Since, cs.Reason = cs.Last, now, reason
}

// notice is what the terminal and its cashier are told of a fork.
func (cs *chainState) notice() string {
	if cs.Fork == 0 {
		return ""
	}
	return terminal.Explain(terminal.Errorf(terminal.Fork, "since %s: %s", stamp(cs.Since), cs.Reason))
}

func stamp(t time.Time) string { return t.In(terminal.Zone).Format(time.DateTime) }

// forkDetail is a fork record's outcome detail.
func forkDetail(cs *chainState) string { return cs.notice() }

// ResetTerminal accepts a terminal's new chain after an investigation of
// its fork: the chain kept as a fork becomes the terminal's own (its records
// stay conflicts) or, if it is not forked, the terminal starts a new chain
// at sequence 1 (a replaced machine). Its connection is closed so that it
// reconnects and hears the news.
func (h *Hub) ResetTerminal(ctx context.Context, terminalID string) error {
	if err := h.alive(); err != nil {
		return err
	}
	if _, ok, err := h.store.Terminal(ctx, terminalID); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("terminal %s: %w", terminalID, ErrUnknown)
	}
	err := h.store.Commit(ctx, &Keys{Memos: []string{chainMemo(terminalID)}}, func(tx Tx) error {
		var cs chainState
		if err := getMemo(tx, chainMemo(terminalID), &cs); err != nil {
			return err
		}
		if cs.Fork != 0 {
			cs.Epoch = cs.Fork
		} else {
			cs.Last++
			cs.Epoch = cs.Last
		}
		cs.Fork, cs.Since, cs.Reason = 0, time.Time{}, ""
		return putMemo(tx, chainMemo(terminalID), cs)
	})
	if err != nil {
		return err
	}
	h.logf("hub: terminal %s reset: a new chain is accepted", terminalID)
	h.mu.Lock()
	c := h.conns[terminalID]
	h.mu.Unlock()
	if c != nil {
		c.stop(wire.CloseFork, "terminal reset: reconnect")
	}
	return nil
}
