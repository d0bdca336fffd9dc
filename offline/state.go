package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// LoadState returns the server state saved last, or ErrNoState (which
// matches terminal.ErrNotFound) if none was ever saved.
func (l *Ledger) LoadState(ctx context.Context) (terminal.ServerState, error) {
	var b []byte
	err := l.view(ctx, func(tx *bolt.Tx) error {
		b = append([]byte(nil), tx.Bucket(bucketState).Get(keyState)...)
		return nil
	})
	if err != nil {
		return terminal.ServerState{}, fmt.Errorf("load state: %w", err)
	}
	if len(b) == 0 {
		return terminal.ServerState{}, ErrNoState
	}
	return decodeState(b)
}

func decodeState(b []byte) (terminal.ServerState, error) {
	var s terminal.ServerState
	if err := json.Unmarshal(b, &s); err != nil {
		return terminal.ServerState{}, fmt.Errorf("load state: %w: %v", ErrCorrupt, err)
	}
	return s, nil
}

// setClocks keeps what SyncState reports of the stored server state s:
// the terminal's time at the last sync and the server's offset from it.
// Call with mu held.
func (l *Ledger) setClocks(s terminal.ServerState) {
	l.lastSync, l.offset, l.stateErr = time.Time{}, 0, nil
	if !s.LocalTime.IsZero() {
		l.lastSync, l.offset = s.LocalTime, s.ServerTime.Sub(s.LocalTime)
	}
}

// SaveState durably replaces the server state (merchant profile and blocked
// flag, issuer keys, revocations, rule parameters, clocks at the last sync).
// It also raises the ledger's high-water time to s.LocalTime.
func (l *Ledger) SaveState(ctx context.Context, s terminal.ServerState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	var high time.Time
	err = l.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := tx.Bucket(bucketState).Put(keyState, b); err != nil {
			return err
		}
		if hw := meta.Get(keyHighWater); hw != nil {
			high = time.Unix(0, int64(getU64(hw)))
		}
		if s.LocalTime.After(high) {
			high = s.LocalTime
			return meta.Put(keyHighWater, u64(uint64(high.UnixNano())))
		}
		return nil
	}, func() {
		l.mu.Lock()
		if high.After(l.high) { // l.high also holds the records' times
			l.high = high
		}
		l.setClocks(s)
		l.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// SyncState returns what the offline risk limits look at, from the stored
// server state and the ledger: the last sync, the server's clock offset,
// the latest time this terminal has recorded or observed (durable across
// restarts, so a clock set back is caught), the unsynced discount, and
// Hold when offline redemptions must stop (a failed audit, a full disk). It
// reads the mirror, not the file: the lane asks at every offline decision.
func (l *Ledger) SyncState(ctx context.Context) (terminal.SyncState, error) {
	if err := ctx.Err(); err != nil {
		return terminal.SyncState{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed:
		return terminal.SyncState{}, ErrClosed
	case l.stateErr != nil:
		return terminal.SyncState{}, l.stateErr
	}
	return terminal.SyncState{LastSync: l.lastSync, ServerOffset: l.offset, HighWater: l.high, UnsyncedFen: l.disc,
		Hold: l.hold()}, nil
}

// HighWater returns the latest time recorded on this terminal's clock (the
// latest record's or sync's), zero for a new ledger.
func (l *Ledger) HighWater() time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.high
}
