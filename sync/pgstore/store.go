// Package pgstore is the hub's store in PostgreSQL (15 or later), for a
// programme that outgrows one process on one disk: any number of voucherd
// instances serve one database. Tables and constraints carry the
// guarantees (unique (terminal, sequence); one live redemption per
// voucher: the primary key of voucher_live); a group commit is one
// transaction that locks the chains it touches and the live rows of its
// vouchers that exist (Commit), so a terminal's chain has one appender at
// a time whichever instance it reaches; LISTEN/NOTIFY carries blocks,
// revocations and key rotations to every instance. It keeps and finds; the
// hub decides (hub.Store).
//
// Settings: a pool of Options.MaxConns connections (default 16: the
// committer uses one at a time, handshakes and admin calls the rest, plus
// one for LISTEN), statement_timeout Options.StatementTimeout (default
// 30 s), idle_in_transaction_session_timeout 10 s (a stalled instance does
// not hold its chain locks), application_name voucherd. A group commit that
// fails with a serialisation failure, a deadlock, a lost race to insert a
// voucher's live row or a memo, or a connection error before COMMIT was sent is run again (at
// most MaxAttempts times); a COMMIT whose answer was lost returns
// hub.ErrOutcomeUnknown and is never retried nor acknowledged.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/voucherpos/voucherpos/sync/hub"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults of Options.
const (
	DefaultMaxConns         = 16
	DefaultStatementTimeout = 30 * time.Second
	// MaxAttempts is how many times Commit runs a transaction that lost a race.
	MaxAttempts = 8
)

// Options configure Open and Migrate.
type Options struct {
	// KeyFile is the file of the key that seals the issuing keys in the
	// database (voucherd init writes it; give the same file to every
	// instance). Empty: the issuing keys cannot be read or written.
	KeyFile string
	// MaxConns is the pool size; zero means DefaultMaxConns.
	MaxConns int32
	// StatementTimeout bounds every statement; zero means DefaultStatementTimeout.
	StatementTimeout time.Duration
	// Schema, if set, is the schema of the tables (tests: one each); empty
	// means the database's default (public).
	Schema string
}

// Store is the hub's ledger in PostgreSQL. Safe for concurrent use by any
// number of instances.
type Store struct {
	pool    *pgxpool.Pool
	cfg     *pgxpool.Config
	seal    *sealer
	channel string
}

var _ hub.Store = (*Store)(nil)

// ErrSchema is returned by Open when the database's schema is newer than
// this binary knows.
var ErrSchema = errors.New("database schema is newer than this voucherd")

func config(url string, opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	cfg.MaxConns = opts.MaxConns
	rp := cfg.ConnConfig.RuntimeParams
	rp["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	rp["idle_in_transaction_session_timeout"] = "10000"
	if rp["application_name"] == "" {
		rp["application_name"] = "voucherd"
	}
	if opts.Schema != "" {
		rp["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	return cfg, nil
}

// Open connects to the database at url, whose schema Migrate must have
// made (else hub.ErrNotInitialised).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := config(url, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{pool: pool, cfg: cfg, channel: "voucherd_changes"}
	if opts.Schema != "" {
		s.channel = "voucherd_changes_" + opts.Schema
	}
	if err := s.checkVersion(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if opts.KeyFile != "" {
		if s.seal, err = loadKeyFile(opts.KeyFile, false); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error { s.pool.Close(); return nil }

// Pool returns the connection pool (migrate and its checks use it).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no number", n)
		}
		b, err := migrations.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, base, string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out, nil
}

// migrateLock is the advisory lock id that serialises Migrate runs.
const migrateLock = 0x766f7563 // "vouc"

// Migrate applies the numbered migrations the database lacks, each in its
// own transaction, under an advisory lock: safe to rerun and to run from
// several instances at once. With opts.KeyFile it creates the key file if
// missing. It returns the versions applied.
func Migrate(ctx context.Context, url string, opts Options) ([]int, error) {
	return migrateTo(ctx, url, opts, 0)
}

// migrateTo is Migrate up to version upto (every version for 0): the
// tests make a database of an older schema with it.
func migrateTo(ctx context.Context, url string, opts Options, upto int) ([]int, error) {
	if opts.KeyFile != "" {
		if _, err := loadKeyFile(opts.KeyFile, true); err != nil {
			return nil, err
		}
	}
	cfg, err := config(url, opts)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLock)
	if opts.Schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{opts.Schema}.Sanitize()); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	var applied []int
	for _, m := range ms {
		if upto > 0 && m.version > upto {
			break
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			applied = append(applied, m.version)
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return applied, nil
}

// checkVersion makes sure Migrate ran and the schema is not newer than this binary.
func (s *Store) checkVersion(ctx context.Context) error {
	var v *int
	err := s.pool.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" || err == nil && v == nil {
		return fmt.Errorf("database has no voucherd tables: %w", hub.ErrNotInitialised)
	}
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if last := ms[len(ms)-1].version; *v > last {
		return fmt.Errorf("%w: version %d, this binary knows up to %d", ErrSchema, *v, last)
	} else if *v < last {
		return fmt.Errorf("database schema version %d, this binary needs %d (run voucherd init -db URL): %w", *v, last, hub.ErrNotInitialised)
	}
	return nil
}
