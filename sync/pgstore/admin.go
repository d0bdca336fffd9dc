package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// tx runs fn in a transaction (admin changes: small, not retried).
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// notify tells every instance of a change, when tx commits.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, kind, id string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", s.channel, kind+":"+id)
	return err
}

const merchantCols = "id, name, category, region, blocked, extra"

func scanMerchant(row pgx.Row) (terminal.Merchant, error) {
	var m terminal.Merchant
	var cat int16
	var region int32
	var extra []int16
	err := row.Scan(&m.ID, &m.Name, &cat, &region, &m.Blocked, &extra)
	m.Category, m.Region = terminal.Category(cat), uint32(region)
	for _, c := range extra {
		m.Extra = append(m.Extra, terminal.Category(c))
	}
	return m, err
}

// AddMerchant stores a new merchant.
func (s *Store) AddMerchant(ctx context.Context, m terminal.Merchant) error {
	extra := make([]int16, 0, len(m.Extra))
	for _, c := range m.Extra {
		extra = append(extra, int16(c))
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO merchants ("+merchantCols+") VALUES ($1, $2, $3, $4, $5, $6)",
		m.ID, m.Name, int16(m.Category), int32(m.Region), m.Blocked, extra)
	if isUnique(err) {
		return fmt.Errorf("merchant %s: %w", m.ID, hub.ErrExists)
	}
	return err
}

// SetBlocked sets a merchant's Blocked flag; every instance hears of it.
func (s *Store) SetBlocked(ctx context.Context, merchantID string, blocked bool) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE merchants SET blocked = $2 WHERE id = $1", merchantID, blocked)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("merchant %s: %w", merchantID, hub.ErrUnknown)
		}
		return s.notify(ctx, tx, hub.ChangeMerchant, merchantID)
	})
}

// Merchant returns one merchant.
func (s *Store) Merchant(ctx context.Context, id string) (terminal.Merchant, bool, error) {
	m, err := scanMerchant(s.pool.QueryRow(ctx, "SELECT "+merchantCols+" FROM merchants WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	return m, err == nil, err
}

// Merchants returns every merchant, by id.
func (s *Store) Merchants(ctx context.Context) ([]terminal.Merchant, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+merchantCols+" FROM merchants ORDER BY id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (terminal.Merchant, error) { return scanMerchant(r) })
}

const terminalCols = "id, merchant_id, public_key, revoked, added_at"

func scanTerminal(row pgx.Row) (hub.TerminalRecord, error) {
	var t hub.TerminalRecord
	var pub []byte
	err := row.Scan(&t.ID, &t.MerchantID, &pub, &t.Revoked, &t.Added)
	t.Public = pub
	return t, err
}

// AddTerminal stores a new terminal and its empty chain.
func (s *Store) AddTerminal(ctx context.Context, t hub.TerminalRecord) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO terminals ("+terminalCols+") VALUES ($1, $2, $3, $4, $5)",
			t.ID, t.MerchantID, []byte(t.Public), t.Revoked, t.Added)
		switch {
		case isUnique(err):
			return fmt.Errorf("terminal %s: %w", t.ID, hub.ErrExists)
		case isForeignKey(err):
			return fmt.Errorf("merchant %s: %w", t.MerchantID, hub.ErrUnknown)
		case err != nil:
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO chains (terminal_id) VALUES ($1)", t.ID)
		return err
	})
}

// RevokeTerminal marks a terminal revoked; every instance hears of it.
func (s *Store) RevokeTerminal(ctx context.Context, terminalID string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE terminals SET revoked = true WHERE id = $1", terminalID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("terminal %s: %w", terminalID, hub.ErrUnknown)
		}
		return s.notify(ctx, tx, hub.ChangeTerminal, terminalID)
	})
}

// Terminal returns one terminal.
func (s *Store) Terminal(ctx context.Context, id string) (hub.TerminalRecord, bool, error) {
	t, err := scanTerminal(s.pool.QueryRow(ctx, "SELECT "+terminalCols+" FROM terminals WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	return t, err == nil, err
}

// Terminals returns every terminal, by id.
func (s *Store) Terminals(ctx context.Context) ([]hub.TerminalRecord, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+terminalCols+" FROM terminals ORDER BY id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (hub.TerminalRecord, error) { return scanTerminal(r) })
}

// AddMinted stores minted codes in one COPY: all or none.
func (s *Store) AddMinted(ctx context.Context, codes []hub.Minted) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"vouchers"}, []string{"id", "code"},
			pgx.CopyFromSlice(len(codes), func(i int) ([]any, error) {
				return []any{int64(codes[i].ID), codes[i].Code}, nil
			}))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("minted voucher: %w", hub.ErrExists)
	}
	return err
}

// Revoke records a revocation; every instance hears of it.
func (s *Store) Revoke(ctx context.Context, id terminal.VoucherID, at time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO vouchers (id, revoked_at) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET revoked_at = coalesce(vouchers.revoked_at, excluded.revoked_at)`, int64(id), at)
		if err != nil {
			return err
		}
		return s.notify(ctx, tx, hub.ChangeRevocation, "")
	})
}

// Revocations returns every revoked voucher id, ascending.
func (s *Store) Revocations(ctx context.Context) ([]terminal.VoucherID, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM vouchers WHERE revoked_at IS NOT NULL")
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (terminal.VoucherID, error) {
		var id int64
		err := r.Scan(&id)
		return terminal.VoucherID(id), err
	})
	slices.Sort(out)
	return out, err
}

// ScanMemos calls fn with at most limit memos under prefix after the key
// after, in the order of the key column's collation (hub.Store).
func (s *Store) ScanMemos(ctx context.Context, prefix, after string, limit int, fn func(key string, v []byte) error) error {
	if limit <= 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, "SELECT key, value FROM memos WHERE key > $1 AND starts_with(key, $2) ORDER BY key LIMIT $3",
		after, prefix, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Params returns the stored rule parameters.
func (s *Store) Params(ctx context.Context) (terminal.Params, error) {
	var p terminal.Params
	var raw []byte
	err := s.pool.QueryRow(ctx, "SELECT params FROM params").Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, &p)
	}
	return p, err
}

// SetParams stores the rule parameters; every instance hears of it.
func (s *Store) SetParams(ctx context.Context, p terminal.Params) error {
	raw, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO params (params) VALUES ($1) ON CONFLICT (one) DO UPDATE SET params = excluded.params", raw)
		if err != nil {
			return err
		}
		return s.notify(ctx, tx, hub.ChangeParams, "")
	})
}
