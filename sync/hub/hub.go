// Package hub is the central server's side of the sync protocol: the
// websocket endpoint terminals sync to, its own bbolt ledger of every
// terminal's records (uniqueness on (terminal, sequence) and on voucher id,
// group commit, conflict entries), voucher minting with the issuing key, and
// the admin operations (merchants, terminals, revocations, blocking,
// reports) both as Go methods and as an HTTP API under /admin/.
package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	gosync "sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/voucherpos/voucherpos/terminal"
)

// LedgerFile is the name of the hub's bbolt file inside its data directory.
const LedgerFile = "voucherd.db"

// Timing defaults.
const (
	// DefaultHoldTTL is how long an online claim holds a voucher unless its redemption arrives.
	DefaultHoldTTL = 15 * time.Minute
	// DefaultLockTimeout is how long Open waits for another process's lock on the ledger.
	DefaultLockTimeout = 500 * time.Millisecond
	// StatePushEvery is how often connected terminals get a fresh state (server time).
	StatePushEvery = 5 * time.Minute
)

// Errors of the hub's operations.
var (
	// ErrLocked is returned by Open when another process (a running
	// `voucherd serve`) holds the ledger's lock.
	ErrLocked = errors.New("ledger is in use by another process (is voucherd serve running? use -server URL)")
	// ErrNotInitialised is returned by Open without Create when DIR has no ledger.
	ErrNotInitialised = errors.New("no ledger in the data directory (run voucherd init)")
	// ErrExists is returned when adding a merchant or terminal that exists.
	ErrExists = errors.New("already exists")
	// ErrUnknown is returned for an unknown merchant, terminal or voucher.
	ErrUnknown = errors.New("unknown")
	// ErrInvalid is returned for an invalid admin request (bad denomination, empty name).
	ErrInvalid = errors.New("invalid request")
	// ErrClosed is returned by operations on a closed hub.
	ErrClosed = errors.New("hub closed")
)

// Options configure a Hub. The zero value is usable.
type Options struct {
	// Create makes Open create the ledger and issuing key when missing
	// (voucherd init, posdemo). Without it Open fails with ErrNotInitialised.
	Create bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf logs; nil means log.Printf.
	Logf func(format string, args ...any)
	// HoldTTL is how long a claim holds a voucher; zero means DefaultHoldTTL.
	HoldTTL time.Duration
	// LockTimeout is how long Open waits for the file lock; zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// AdminToken, if set, is required as "Authorization: Bearer TOKEN" on
	// /admin/ and allows non-loopback callers; empty means loopback only.
	AdminToken string
	// Window is the number of unacknowledged batches a terminal may have in
	// flight; zero means 8.
	Window int
	// BatchMax is the largest batch a terminal may send; zero means 1000.
	BatchMax int
	// GroupMax is the most records one group commit takes; zero means 8000.
	GroupMax int
	// MaxUnauthenticated is the most sync connections open at once whose
	// terminal is not yet authenticated; more are refused with 503. Zero
	// means DefaultMaxUnauthenticated.
	MaxUnauthenticated int
	// NoSync skips fsync on the hub's ledger. Tests only: never in production
	// or benchmarks.
	NoSync bool
}

// Hub is the central server. Its methods are safe for concurrent use.
type Hub struct {
	opts     Options
	now      func() time.Time
	logf     func(string, ...any)
	db       *bolt.DB
	identity ed25519.PrivateKey // first issuing key: credentials, welcomes
	keyMu    gosync.RWMutex
	priv     ed25519.PrivateKey // current minting key
	keys     *terminal.Keyring  // every issuing key; replaced whole
	prog     *terminal.Programme

	swept   time.Time // committer only: when expired holds were last dropped
	jobs    chan *job // batches
	claims  chan *job // claims and releases
	ctx     context.Context
	cancel  context.CancelFunc
	wg      gosync.WaitGroup // committer, pusher
	connWG  gosync.WaitGroup // connections
	mu      gosync.Mutex
	conns   map[string]*conn // by terminal id
	unauth  chan struct{}    // a place per unauthenticated connection (admit)
	refused refusals
	closing bool
	closed  chan struct{}
}

// Open opens (with opts.Create, creates) the ledger in dir and starts the
// committer. Close it when done.
func Open(dir string, opts Options) (*Hub, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = DefaultHoldTTL
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Window <= 0 {
		opts.Window = 8
	}
	if opts.BatchMax <= 0 {
		opts.BatchMax = 1000
	}
	if opts.GroupMax <= 0 {
		opts.GroupMax = 8000
	}
	if opts.MaxUnauthenticated <= 0 {
		opts.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	path := filepath.Join(dir, LedgerFile)
	if !opts.Create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open %s: %w", dir, ErrNotInitialised)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open hub: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync,
		// Every commit is still fsync'd; the freelist is rebuilt at open
		// instead of being written at each commit, and kept as a hashmap.
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open hub ledger: %w", err)
	}
	h := &Hub{opts: opts, now: opts.Now, logf: opts.Logf, db: db, prog: terminal.Qinshui2022(),
		jobs: make(chan *job, 256), claims: make(chan *job, 256), conns: map[string]*conn{}, closed: make(chan struct{}),
		unauth: make(chan struct{}, opts.MaxUnauthenticated)}
	if err := h.init(); err != nil {
		db.Close()
		return nil, err
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.committer()
	go h.pusher()
	return h, nil
}

// init creates the buckets and the issuing key if missing, and loads the keys.
func (h *Hub) init() error {
	err := h.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if meta.Get(kIssuer) == nil {
			if !h.opts.Create {
				return ErrNotInitialised
			}
			_, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := meta.Put(kIssuer, priv.Seed()); err != nil {
				return err
			}
		}
		seed := meta.Get(kIssuer)
		if len(seed) != ed25519.SeedSize {
			return fmt.Errorf("issuing key: %d bytes stored", len(seed))
		}
		h.identity = ed25519.NewKeyFromSeed(seed)
		kb := tx.Bucket(bKeys)
		id := u32(uint32(terminal.KeyIDOf(h.identity.Public().(ed25519.PublicKey))))
		if kb.Get(id) == nil {
			if err := kb.Put(id, seed); err != nil {
				return err
			}
		}
		return h.loadKeys(tx)
	})
	if err != nil {
		return fmt.Errorf("init hub ledger: %w", err)
	}
	return nil
}

// loadKeys reads every issuing key (all trusted) and the current one (used to mint).
func (h *Hub) loadKeys(tx *bolt.Tx) error {
	ring := &terminal.Keyring{}
	var current ed25519.PrivateKey
	cur := tx.Bucket(bMeta).Get(kCurrent)
	err := tx.Bucket(bKeys).ForEach(func(k, seed []byte) error {
		if len(seed) != ed25519.SeedSize {
			return fmt.Errorf("issuing key %x: %d bytes stored", k, len(seed))
		}
		priv := ed25519.NewKeyFromSeed(seed)
		if string(k) == string(cur) {
			current = priv
		}
		return ring.Add(priv.Public().(ed25519.PublicKey))
	})
	if err != nil {
		return err
	}
	if current == nil {
		current = h.identity
	}
	h.keyMu.Lock()
	h.keys, h.priv = ring, current
	h.keyMu.Unlock()
	return nil
}

// signing returns the current minting key and the trusted keyring.
func (h *Hub) signing() (ed25519.PrivateKey, *terminal.Keyring) {
	h.keyMu.RLock()
	defer h.keyMu.RUnlock()
	return h.priv, h.keys
}

// KeyID returns the id of the key the hub mints with now.
func (h *Hub) KeyID() terminal.KeyID {
	priv, _ := h.signing()
	return terminal.KeyIDOf(priv.Public().(ed25519.PublicKey))
}

// PublicKey returns the hub's identity key: the first issuing key, created
// by init, written into every terminal credential and signing every welcome.
func (h *Hub) PublicKey() ed25519.PublicKey { return h.identity.Public().(ed25519.PublicKey) }

// RotateKey makes a new issuing key the one vouchers are minted with from
// now on. Every earlier key stays trusted, so codes already minted remain
// good; connected terminals get the new keyring at once.
func (h *Hub) RotateKey(ctx context.Context) (terminal.KeyID, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return 0, err
	}
	id := terminal.KeyIDOf(priv.Public().(ed25519.PublicKey))
	err = h.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bKeys).Put(u32(uint32(id)), priv.Seed()); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kCurrent, u32(uint32(id)))
	})
	if err == nil {
		err = h.db.View(h.loadKeys)
	}
	if err != nil {
		return 0, err
	}
	h.push("")
	return id, nil
}

// Close tells every connected terminal the service restarts (close code
// 1012), waits for the connections and the committer, and closes the ledger.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		<-h.closed
		return nil
	}
	h.closing = true
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.stop(1012, "server shutting down")
	}
	h.connWG.Wait()
	h.cancel()
	h.wg.Wait()
	err := h.db.Close()
	close(h.closed)
	return err
}
