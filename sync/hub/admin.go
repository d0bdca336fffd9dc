package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// Admin is every admin operation of the server. *Hub does them on its own
// ledger; *Remote asks a running server over its HTTP admin API.
type Admin interface {
	AddMerchant(ctx context.Context, m terminal.Merchant) error
	Block(ctx context.Context, merchantID string) error
	Unblock(ctx context.Context, merchantID string) error
	AddTerminal(ctx context.Context, merchantID, terminalID string) (wire.Credential, error)
	RevokeTerminal(ctx context.Context, terminalID string) error
	ResetTerminal(ctx context.Context, terminalID string) error
	Mint(ctx context.Context, req MintRequest) ([]string, error)
	Revoke(ctx context.Context, id terminal.VoucherID) error
	Report(ctx context.Context, day time.Time, merchantID string) (*Report, error)
	RotateKey(ctx context.Context) (terminal.KeyID, error)
	// Terminals is the fleet view (fleet.go).
	Terminals(ctx context.Context) ([]TerminalStatus, error)
}

var (
	_ Admin = (*Hub)(nil)
	_ Admin = (*Remote)(nil)
)

// MintRequest describes vouchers to mint.
type MintRequest struct {
	Category terminal.Category `json:"category"`
	// SpendFen and OffFen are the denomination; for love vouchers OffFen is
	// the face value and SpendFen is 0.
	SpendFen terminal.Fen      `json:"spend_fen"`
	OffFen   terminal.Fen      `json:"off_fen"`
	Holder   terminal.HolderID `json:"holder"`
	From     time.Time         `json:"from"`
	Until    time.Time         `json:"until"`
	// N is the number of vouchers; zero means 1, at most MaxMint.
	N int `json:"n"`
	// EachHolder gives the i-th voucher to holder Holder+i, as N people
	// would claim them (a holder redeeming twice within the split-bill
	// window is refused); false gives them all to Holder.
	EachHolder bool `json:"each_holder,omitempty"`
	// Region zero means 140521; Campaign zero means 202202; Round zero means 1.
	Region   uint32 `json:"region,omitempty"`
	Campaign uint32 `json:"campaign,omitempty"`
	Round    uint8  `json:"round,omitempty"`
}

// MaxMint is the most vouchers one Mint call makes.
const MaxMint = 100_000

// alive returns ErrClosed once the hub is closed.
func (h *Hub) alive() error {
	select {
	case <-h.closed:
		return ErrClosed
	default:
		return nil
	}
}

func checkID(what, id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: %s id must be 1..64 bytes", ErrInvalid, what)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%w: %s id %q has spaces or control characters", ErrInvalid, what, id)
		}
	}
	return nil
}

// AddMerchant enrols a merchant. Region zero means the programme's 140521.
func (h *Hub) AddMerchant(ctx context.Context, m terminal.Merchant) error {
	if err := checkID("merchant", m.ID); err != nil {
		return err
	}
	if m.Name == "" || !m.Category.Valid() || m.Category == terminal.Love {
		return fmt.Errorf("%w: merchant needs a name and a category (retail, fuel, appliance, hospitality)", ErrInvalid)
	}
	if m.Region == 0 {
		m.Region = h.prog.Region
	}
	if err := h.alive(); err != nil {
		return err
	}
	return h.store.AddMerchant(ctx, m)
}

// Block suspends a merchant; its connected terminals get the new state at once.
func (h *Hub) Block(ctx context.Context, merchantID string) error {
	return h.setBlocked(ctx, merchantID, true)
}

// Unblock lifts a merchant's suspension and pushes the new state.
func (h *Hub) Unblock(ctx context.Context, merchantID string) error {
	return h.setBlocked(ctx, merchantID, false)
}

func (h *Hub) setBlocked(ctx context.Context, id string, blocked bool) error {
	if err := h.alive(); err != nil {
		return err
	}
	err := h.store.SetBlocked(ctx, id, blocked)
	h.cache.drop(Change{Kind: ChangeMerchant, ID: id})
	if err == nil {
		// Since when: the server decides a record by the profile the
		// merchant had at the record's time.
		now := h.now()
		err = h.store.Commit(ctx, &Keys{Memos: []string{blocksMemo(id)}}, func(tx Tx) error {
			var ps []period
			if err := getMemo(tx, blocksMemo(id), &ps); err != nil {
				return err
			}
			open := len(ps) > 0 && ps[len(ps)-1].Until.IsZero()
			switch {
			case blocked && !open:
				ps = append(ps, period{From: now})
			case !blocked && open:
				ps[len(ps)-1].Until = now
			}
			return putMemo(tx, blocksMemo(id), ps)
		})
	}
	if err == nil {
		h.push(id)
	}
	return err
}

// AddTerminal enrols a terminal of a merchant: it makes the terminal's key
// pair, stores only the public key and returns the credential (with the
// private seed) for the terminal's file.
func (h *Hub) AddTerminal(ctx context.Context, merchantID, terminalID string) (wire.Credential, error) {
	if err := checkID("terminal", terminalID); err != nil {
		return wire.Credential{}, err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return wire.Credential{}, err
	}
	if err := h.alive(); err != nil {
		return wire.Credential{}, err
	}
	err = h.store.AddTerminal(ctx, TerminalRecord{ID: terminalID, MerchantID: merchantID, Public: pub, Added: h.now()})
	if err != nil {
		return wire.Credential{}, err
	}
	return wire.Credential{TerminalID: terminalID, MerchantID: merchantID, Seed: priv.Seed(), ServerKey: h.PublicKey()}, nil
}

// RevokeTerminal refuses the terminal's future connections and ends its current one.
func (h *Hub) RevokeTerminal(ctx context.Context, terminalID string) error {
	if err := h.alive(); err != nil {
		return err
	}
	err := h.store.RevokeTerminal(ctx, terminalID)
	h.cache.drop(Change{Kind: ChangeTerminal, ID: terminalID})
	if err == nil {
		h.endRevoked(terminalID)
	}
	return err
}

// endRevoked ends a revoked terminal's connection to this instance.
func (h *Hub) endRevoked(terminalID string) {
	h.mu.Lock()
	c := h.conns[terminalID]
	h.mu.Unlock()
	if c != nil {
		c.stop(wire.CloseRevoked, "terminal "+terminalID+" is revoked")
	}
}

// Mint signs req.N vouchers with the hub's issuing key (which never leaves
// the hub) and returns their codes. Ids are random 64-bit numbers, unique in
// the ledger; the codes are stored so that synced redemptions are checked
// by comparison.
func (h *Hub) Mint(ctx context.Context, req MintRequest) ([]string, error) {
	if req.N == 0 {
		req.N = 1
	}
	if req.N < 0 || req.N > MaxMint {
		return nil, fmt.Errorf("%w: n %d outside 1..%d", ErrInvalid, req.N, MaxMint)
	}
	v := terminal.Voucher{Holder: req.Holder, Category: req.Category, SpendFen: req.SpendFen, OffFen: req.OffFen,
		ValidFrom: req.From, ValidUntil: req.Until, Region: req.Region, Campaign: req.Campaign, Round: req.Round}
	if v.Region == 0 {
		v.Region = h.prog.Region
	}
	if v.Campaign == 0 {
		v.Campaign = h.prog.Campaign
	}
	if v.Round == 0 {
		v.Round = 1
	}
	if !h.prog.HasDenomination(v.Category, v.Denomination()) {
		return nil, fmt.Errorf("%w: %s %s is not a denomination of the programme", ErrInvalid, v.Category, v.Denomination())
	}
	if !req.Until.After(req.From) {
		return nil, fmt.Errorf("%w: validity %s..%s is empty", ErrInvalid, req.From.Format(time.RFC3339), req.Until.Format(time.RFC3339))
	}
	if err := h.alive(); err != nil {
		return nil, err
	}
	priv, _ := h.signing()
	for {
		codes, minted, err := mintCodes(v, priv, req.N, req.EachHolder)
		if err != nil {
			return nil, err
		}
		err = h.store.AddMinted(ctx, minted)
		if errors.Is(err, ErrExists) {
			continue // a random id met one minted before: draw again
		}
		if err != nil {
			return nil, err
		}
		return codes, nil
	}
}

// mintCodes signs n vouchers like v with random 64-bit ids, distinct among
// themselves, and returns the codes in the order drawn and the minted
// entries in id order (the order a B+tree takes best).
func mintCodes(v terminal.Voucher, priv ed25519.PrivateKey, n int, eachHolder bool) ([]string, []Minted, error) {
	base := v.Holder
	ids := make([]uint64, 0, n)
	seen := make(map[uint64]bool, n)
	for len(ids) < n {
		var r [8]byte
		_, _ = rand.Read(r[:])
		id := binary.BigEndian.Uint64(r[:])
		if id == 0 || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	holder := make(map[uint64]terminal.HolderID, n)
	for i, id := range ids {
		holder[id] = base
		if eachHolder {
			holder[id] = base + terminal.HolderID(i)
		}
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	minted := make([]Minted, 0, n)
	byID := make(map[uint64]string, n)
	for _, id := range sorted {
		v.ID, v.Holder = terminal.VoucherID(id), holder[id]
		code, err := terminal.Encode(v, priv)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		minted = append(minted, Minted{ID: v.ID, Code: code})
		byID[id] = code
	}
	codes := make([]string, 0, n)
	for _, id := range ids {
		codes = append(codes, byID[id])
	}
	return codes, minted, nil
}

// Revoke revokes a voucher: claims of it answer revoked, redemptions synced
// after are conflicts, and every connected terminal gets the new revocation list.
func (h *Hub) Revoke(ctx context.Context, id terminal.VoucherID) error {
	if err := h.alive(); err != nil {
		return err
	}
	err := h.store.Revoke(ctx, id, h.now())
	h.cache.drop(Change{Kind: ChangeRevocation})
	if err == nil {
		h.push("")
	}
	return err
}

// SetParams stores the rule parameters pushed to every terminal (zero
// fields mean the defaults) and pushes them.
func (h *Hub) SetParams(ctx context.Context, p terminal.Params) error {
	if err := h.alive(); err != nil {
		return err
	}
	err := h.store.SetParams(ctx, p)
	h.cache.drop(Change{Kind: ChangeParams})
	if err == nil {
		h.push("")
	}
	return err
}

// Watermark returns the hub's durable watermark for a terminal: every
// record up to it is stored.
func (h *Hub) Watermark(ctx context.Context, terminalID string) (uint64, error) {
	hd, err := h.store.Head(ctx, terminalID)
	return hd.Seq, err
}

// Conflicts returns every conflict entry, oldest first.
func (h *Hub) Conflicts(ctx context.Context) ([]Conflict, error) {
	var out []Conflict
	err := h.store.Conflicts(ctx, func(c *Conflict) error { out = append(out, *c); return nil })
	return out, err
}

// state builds what a merchant's terminals keep for working offline.
func (h *Hub) state(ctx context.Context, merchantID string) (*terminal.ServerState, error) {
	_, keys := h.signing()
	st := &terminal.ServerState{IssuerKeys: keys.Keys(), ServerTime: h.now()}
	m, ok, err := h.merchant(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	if !ok {
		m = terminal.Merchant{ID: merchantID, Blocked: true}
	}
	st.Merchant = m
	if st.Params, err = h.params(ctx); err != nil {
		return nil, err
	}
	st.Params = st.Params.WithDefaults()
	if st.Revocations, err = h.revocations(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// push sends fresh state to the connected terminals of merchantID, or of
// every merchant for "".
func (h *Hub) push(merchantID string) {
	h.mu.Lock()
	var cs []*conn
	for _, c := range h.conns {
		if merchantID == "" || c.merchant == merchantID {
			cs = append(cs, c)
		}
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.pushState()
	}
}

// pusher refreshes every terminal's state (and so its server time) every StatePushEvery.
func (h *Hub) pusher() {
	defer h.wg.Done()
	t := time.NewTicker(StatePushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.push("")
		case <-h.ctx.Done():
			return
		}
	}
}

// watch pushes to this instance's terminals what other instances changed
// in a shared store (a block, a revocation, a key rotation, new params, a
// revoked terminal). A broken watch is retried: pushes every StatePushEvery
// still bound how stale a terminal's state can be.
func (h *Hub) watch(w Watcher) {
	defer h.wg.Done()
	for {
		err := w.Watch(h.ctx, h.apply)
		h.cache.setLive(false) // changes are missed until the watch listens again
		if h.ctx.Err() != nil {
			return
		}
		h.logf("hub: watching the store for changes failed (retried in 1s): %v", err)
		select {
		case <-time.After(time.Second):
		case <-h.ctx.Done():
			return
		}
		h.push("") // what changed while the watch was down
	}
}

// apply drops what one change touched from the cache and pushes it to
// the terminals concerned.
func (h *Hub) apply(c Change) {
	if c.Kind == ChangeAll {
		h.cache.setLive(true) // the watch listens: nothing is missed from now on
		return
	}
	h.cache.drop(c)
	switch c.Kind {
	case ChangeKeys:
		if err := h.loadKeys(h.ctx); err != nil {
			h.logf("hub: reloading issuing keys: %v", err)
		}
		h.push("")
	case ChangeTerminal:
		if t, ok, err := h.store.Terminal(h.ctx, c.ID); err == nil && ok && t.Revoked {
			h.endRevoked(c.ID)
		}
	case ChangeMerchant:
		h.push(c.ID)
	default:
		h.push("")
	}
}
