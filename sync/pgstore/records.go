package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

const recordCols = "terminal_id, seq, merchant_id, at, kind, voucher_id, hash, sig, body, result, detail"

func scanRecord(row pgx.Row) (hub.StoredRecord, error) {
	var r hub.StoredRecord
	var seq, v int64
	var kind, result string
	var hash []byte
	err := row.Scan(&r.TerminalID, &seq, &r.MerchantID, &r.At, &kind, &v, &hash, &r.Sig, &r.Body, &result, &r.Detail)
	r.Seq, r.Voucher, r.Kind, r.Result = uint64(seq), terminal.VoucherID(v), terminal.Kind(kind), terminal.Result(result)
	copy(r.Hash[:], hash)
	return r, err
}

// reportDay is the day of t in UTC+8, as the records table's day column holds it.
func reportDay(t time.Time) time.Time {
	y, m, d := t.In(terminal.Zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Head returns a terminal's durable chain head.
func (s *Store) Head(ctx context.Context, terminalID string) (hub.Head, error) {
	var h hub.Head
	var seq int64
	var hash []byte
	err := s.pool.QueryRow(ctx, "SELECT seq, hash FROM chains WHERE terminal_id = $1", terminalID).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	h.Seq = uint64(seq)
	copy(h.Hash[:], hash)
	return h, err
}

// Record returns one stored record.
func (s *Store) Record(ctx context.Context, terminalID string, seq uint64) (hub.StoredRecord, bool, error) {
	r, err := scanRecord(s.pool.QueryRow(ctx, "SELECT "+recordCols+" FROM records WHERE terminal_id = $1 AND seq = $2", terminalID, int64(seq)))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// DayRecords reads the day's records through the (day, merchant) index.
func (s *Store) DayRecords(ctx context.Context, day time.Time, merchantID string, fn func(*hub.StoredRecord) error) error {
	q := "SELECT " + recordCols + " FROM records WHERE day = $1 AND ($2 = '' OR merchant_id = $2) ORDER BY terminal_id, seq"
	rows, err := s.pool.Query(ctx, q, reportDay(day), merchantID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

const conflictCols = "record_id, terminal_id, merchant_id, seq, voucher_id, category, discount_fen, at, at_nanos, against, code, reason"

// Conflicts reads the conflicts, oldest first.
func (s *Store) Conflicts(ctx context.Context, fn func(*hub.Conflict) error) error {
	rows, err := s.pool.Query(ctx, "SELECT "+conflictCols+" FROM conflicts ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c hub.Conflict
		var seq, v, disc int64
		var cat int16
		var code string
		var nanos int16
		if err := rows.Scan(&c.RecordID, &c.TerminalID, &c.MerchantID, &seq, &v, &cat, &disc, &c.At, &nanos, &c.Against, &code, &c.Reason); err != nil {
			return err
		}
		c.Seq, c.Voucher, c.Category, c.DiscountFen = uint64(seq), terminal.VoucherID(v), terminal.Category(cat), terminal.Fen(disc)
		c.Code = terminal.Code(code)
		c.At = c.At.Add(time.Duration(nanos)).In(terminal.Zone)
		if err := fn(&c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Watch listens on the store's channel with a connection of its own and
// calls fn with hub.ChangeAll once it listens, then with every change made
// through any instance, until ctx ends.
func (s *Store) Watch(ctx context.Context, fn func(hub.Change)) error {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	fn(hub.Change{Kind: hub.ChangeAll})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		kind, id, _ := strings.Cut(n.Payload, ":")
		fn(hub.Change{Kind: kind, ID: id})
	}
}

var _ hub.Watcher = (*Store)(nil)

// AddAction appends an entry to the admin log.
func (s *Store) AddAction(ctx context.Context, a hub.Action) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO actions (at, who, what, target, why) VALUES ($1, $2, $3, $4, $5)",
		a.At, a.Who, a.What, a.Target, a.Why)
	return err
}

// Actions reads the admin log, oldest first.
func (s *Store) Actions(ctx context.Context, fn func(*hub.Action) error) error {
	rows, err := s.pool.Query(ctx, "SELECT at, who, what, target, why FROM actions ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a hub.Action
		if err := rows.Scan(&a.At, &a.Who, &a.What, &a.Target, &a.Why); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return rows.Err()
}
