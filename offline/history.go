package offline

import "github.com/voucherpos/voucherpos/terminal"

// The ledger's history mirror (Ledger.hist) is a terminal.MemHistory: the
// live-voucher index, the holders' latest redemptions and the lane's latest
// one. Open rebuilds it from the vouchers bucket and the records of the last
// HolderMemory; it is updated after each commit; the rules read it without
// touching the file.

// Redeemed reports whether voucher id has a live redemption in this ledger:
// committed and not refunded with the voucher returned.
func (l *Ledger) Redeemed(id terminal.VoucherID) bool { return l.hist.Load().Redeemed(id) }

// LastByHolder returns the holder's latest redemption on this terminal. As
// with terminal.MemHistory, a refund does not erase it: the split-bill
// memory stays.
func (l *Ledger) LastByHolder(holder terminal.HolderID) (terminal.Recent, bool) {
	return l.hist.Load().LastByHolder(holder)
}

// LastOnLane returns the terminal's latest redemption.
func (l *Ledger) LastOnLane() (terminal.Recent, bool) { return l.hist.Load().LastOnLane() }
