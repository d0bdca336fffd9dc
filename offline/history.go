package offline

import "github.com/voucherpos/voucherpos/terminal"

// history is the in-memory mirror of the live-voucher index, the holders'
// latest redemptions and the lane's latest one. Open rebuilds it from the
// vouchers bucket and the records of the last HolderMemory; it is updated,
// under Ledger.mu, after each commit; the rules read it without touching
// the file.
type history struct {
	redeemed map[terminal.VoucherID]uint64
	byHolder map[terminal.HolderID]terminal.Recent
	lane     terminal.Recent
	hasLane  bool
}

func (h *history) init() {
	h.redeemed = map[terminal.VoucherID]uint64{}
	h.byHolder = map[terminal.HolderID]terminal.Recent{}
}

// later reports whether r should replace old as the latest redemption.
func later(r, old terminal.Recent) bool { return !r.At.Before(old.At) }

// add records a committed redemption: its voucher is live.
func (h *history) add(seq uint64, r terminal.Recent) {
	h.redeemed[r.VoucherID] = seq
	h.remember(r)
}

// remember updates the split-bill and lane memory with r.
func (h *history) remember(r terminal.Recent) {
	if old, ok := h.byHolder[r.Holder]; !ok || later(r, old) {
		h.byHolder[r.Holder] = r
	}
	if !h.hasLane || later(r, h.lane) {
		h.lane, h.hasLane = r, true
	}
}

// Redeemed reports whether voucher id has a live redemption in this ledger:
// committed and not refunded with the voucher returned.
func (l *Ledger) Redeemed(id terminal.VoucherID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.hist.redeemed[id]
	return ok
}

// LastByHolder returns the holder's latest redemption on this terminal. As
// with terminal.MemHistory, a refund does not erase it: the split-bill
// memory stays.
func (l *Ledger) LastByHolder(holder terminal.HolderID) (terminal.Recent, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r, ok := l.hist.byHolder[holder]
	return r, ok
}

// LastOnLane returns the terminal's latest redemption.
func (l *Ledger) LastOnLane() (terminal.Recent, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hist.lane, l.hist.hasLane
}
