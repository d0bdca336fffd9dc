package hub

import (
	"context"
	gosync "sync"

	"github.com/voucherpos/voucherpos/terminal"
)

// What every handshake and every group commit reads but an admin rarely
// changes (the terminal's enrolment, its merchant, the rule parameters, the
// revocation list) is kept in memory: in a reconnect storm thousands of
// handshakes would otherwise each make four queries outside the group
// commit. An entry is dropped when the hub changes it itself (before it
// pushes the news) and when a Change from another instance names it
// (Watcher). With a store several instances share, the cache is used only
// while the watch listens: it starts with the watch, and when the watch
// breaks everything is dropped and read from the store until the watch
// listens again (a ChangeAll). A store no one else writes (bbolt, whose
// file lock keeps other processes out) is cached from the start.
//
// A read that raced with a drop is not kept: every drop moves the
// generation, and a value read from the store is kept only if the
// generation did not move since before the read.
type cache struct {
	mu        gosync.Mutex
	live      bool   // entries may be kept and used
	gen       uint64 // moved by every drop
	terminals map[string]TerminalRecord
	merchants map[string]terminal.Merchant
	params    *terminal.Params
	revoked   []terminal.VoucherID
	hasRevs   bool // revoked is cached
}

func newCache(live bool) *cache {
	return &cache{live: live, terminals: map[string]TerminalRecord{}, merchants: map[string]terminal.Merchant{}}
}

// generation returns the current generation.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// keep runs put under the lock if nothing was dropped since gen.
func (c *cache) keep(gen uint64, put func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.gen == gen {
		put()
	}
}

// drop forgets what a change touched (every entry for ChangeAll or an
// unknown kind).
func (c *cache) drop(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch ch.Kind {
	case ChangeTerminal:
		if ch.ID == "" {
			clear(c.terminals)
		}
		delete(c.terminals, ch.ID)
	case ChangeMerchant:
		if ch.ID == "" {
			clear(c.merchants)
		}
		delete(c.merchants, ch.ID)
	case ChangeParams:
		c.params = nil
	case ChangeRevocation:
		c.revoked, c.hasRevs = nil, false
	case ChangeKeys: // keys are not cached here (Hub.loadKeys)
	default:
		c.dropAll()
	}
}

func (c *cache) dropAll() {
	clear(c.terminals)
	clear(c.merchants)
	c.params, c.revoked, c.hasRevs = nil, nil, false
}

// setLive drops every entry and turns the cache on or off.
func (c *cache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.dropAll()
	c.live = live
}

// terminal returns an enrolled terminal (only terminals found are kept).
func (h *Hub) terminal(ctx context.Context, id string) (TerminalRecord, bool, error) {
	return cached(h.cache, h.cache.terminals, ctx, id, h.store.Terminal)
}

// merchant returns a merchant (only merchants found are kept).
func (h *Hub) merchant(ctx context.Context, id string) (terminal.Merchant, bool, error) {
	return cached(h.cache, h.cache.merchants, ctx, id, h.store.Merchant)
}

// cached returns m's entry for id, or reads it with load and keeps it if
// found and nothing was dropped meanwhile.
func cached[V any](c *cache, m map[string]V, ctx context.Context, id string, load func(context.Context, string) (V, bool, error)) (V, bool, error) {
	c.mu.Lock()
	v, ok := m[id]
	live, gen := c.live, c.gen
	c.mu.Unlock()
	if ok && live {
		return v, true, nil
	}
	v, ok, err := load(ctx, id)
	if err == nil && ok && live {
		c.keep(gen, func() { m[id] = v })
	}
	return v, ok, err
}

// params returns the stored rule parameters (as stored: without defaults).
func (h *Hub) params(ctx context.Context) (terminal.Params, error) {
	c := h.cache
	c.mu.Lock()
	p := c.params
	live, gen := c.live, c.gen
	c.mu.Unlock()
	if p != nil && live {
		return *p, nil
	}
	v, err := h.store.Params(ctx)
	if err == nil && live {
		c.keep(gen, func() { c.params = &v })
	}
	return v, err
}

// revocations returns every revoked voucher id, ascending: the slice is
// shared and must not be changed.
func (h *Hub) revocations(ctx context.Context) ([]terminal.VoucherID, error) {
	c := h.cache
	c.mu.Lock()
	r, ok := c.revoked, c.hasRevs
	live, gen := c.live, c.gen
	c.mu.Unlock()
	if ok && live {
		return r, nil
	}
	r, err := h.store.Revocations(ctx)
	if err == nil && live {
		c.keep(gen, func() { c.revoked, c.hasRevs = r, true })
	}
	return r, err
}
