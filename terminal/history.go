package terminal

import "sync"

// MemHistory is an in-memory History, safe for concurrent use. The offline
// ledger keeps one as its mirror, so a decision never waits for disk; tests
// use it alone.
type MemHistory struct {
	mu       sync.RWMutex
	redeemed map[VoucherID]struct{}
	byHolder map[HolderID]Recent
	lane     Recent
	hasLane  bool
}

var _ History = (*MemHistory)(nil)

// NewMemHistory returns an empty history.
func NewMemHistory() *MemHistory {
	return &MemHistory{redeemed: map[VoucherID]struct{}{}, byHolder: map[HolderID]Recent{}}
}

// Add records a live redemption.
func (h *MemHistory) Add(r Recent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redeemed[r.VoucherID] = struct{}{}
	h.remember(r)
}

// Remember updates the split-bill and linked-transaction memory with r and
// leaves alone whether its voucher is live: for a ledger that rebuilds that
// memory from its records and knows its live vouchers from its own index
// (MarkLive).
func (h *MemHistory) Remember(r Recent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remember(r)
}

// MarkLive records that voucher id has a live redemption.
func (h *MemHistory) MarkLive(id VoucherID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redeemed[id] = struct{}{}
}

// remember keeps r as the holder's and the lane's latest redemption unless
// a later one is known. Call with mu held.
func (h *MemHistory) remember(r Recent) {
	if last, ok := h.byHolder[r.Holder]; !ok || !r.At.Before(last.At) {
		h.byHolder[r.Holder] = r
	}
	if !h.hasLane || !r.At.Before(h.lane.At) {
		h.lane, h.hasLane = r, true
	}
}

// Release forgets the redemption of a returned voucher, so it can be
// redeemed again. The split-bill and linked-transaction memory stays.
func (h *MemHistory) Release(id VoucherID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.redeemed, id)
}

// Redeemed reports whether voucher id has a live redemption.
func (h *MemHistory) Redeemed(id VoucherID) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.redeemed[id]
	return ok
}

// LastByHolder returns the holder's latest redemption.
func (h *MemHistory) LastByHolder(holder HolderID) (Recent, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.byHolder[holder]
	return r, ok
}

// LastOnLane returns the lane's latest redemption.
func (h *MemHistory) LastOnLane() (Recent, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.lane, h.hasLane
}

// RecentOf returns what the rules remember of a committed redemption.
func RecentOf(r *Redemption) Recent {
	return Recent{RedemptionID: r.ID, VoucherID: r.Voucher.ID, Holder: r.Voucher.Holder,
		At: r.At, EligibleFen: r.EligibleFen, SpendFen: r.Voucher.SpendFen}
}
