// Package hub is the central server's side of the sync protocol: the
// websocket endpoint terminals sync to, group commit of their records with
// the decision on each (uniqueness on (terminal, sequence) and on voucher
// id, conflict entries), voucher minting with the issuing key, and the
// admin operations (merchants, terminals, revocations, blocking, reports)
// both as Go methods and as an HTTP API under /admin/. Everything durable
// goes through a Store (store.go): sync/boltstore or sync/pgstore.
package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"net/http"
	gosync "sync"
	"time"

	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// Timing defaults.
const (
	// DefaultHoldTTL is how long an online claim holds a voucher unless its redemption arrives.
	DefaultHoldTTL = 15 * time.Minute
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
	// ErrOutcomeUnknown is returned by a Store's Commit when the commit's
	// result cannot be known (the connection to the database broke while
	// COMMIT was in flight): the hub acks nothing of it and closes the
	// terminals' connections, whose resends then find out.
	ErrOutcomeUnknown = errors.New("commit outcome unknown")
)

// Options configure a Hub. The zero value is usable.
type Options struct {
	// Create makes New create the issuing key when the store has none
	// (voucherd init, posdemo); the store opener reads it too. Without it New
	// fails with ErrNotInitialised.
	Create bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf logs; nil means log.Printf.
	Logf func(format string, args ...any)
	// Hooks let the server's metrics count what the hub does.
	Hooks Hooks
	// Metrics, if set, is served at /metrics behind the admin
	// authentication (the Prometheus exposition, from cmd/voucherd).
	Metrics http.Handler
	// HoldTTL is how long a claim holds a voucher; zero means DefaultHoldTTL.
	HoldTTL time.Duration
	// AdminToken, if set, is required as "Authorization: Bearer TOKEN" on
	// /admin/ and allows non-loopback callers; empty means loopback only.
	AdminToken string
	// Window is the number of unacknowledged batches a terminal may have in
	// flight; zero means 8. A terminal that connects with more than a
	// window of records to send (its hello's high sequence past the
	// server's watermark by more than Window × BatchMax) gets twice that.
	Window int
	// BatchMax is the largest batch a terminal may send; zero means 1000.
	BatchMax int
	// GroupMax is the most records one group commit takes; zero means 8000.
	GroupMax int
	// MaxUnauthenticated is the most sync connections open at once whose
	// terminal is not yet authenticated; more wait a second for a place,
	// then are refused with 503. Zero
	// means DefaultMaxUnauthenticated.
	MaxUnauthenticated int
}

// Hooks are called as the hub works, for metrics; a nil field is skipped.
// They run on the hub's goroutines and must not block.
type Hooks struct {
	// GroupCommit follows every group commit: the records and claims it
	// took, how long the store's commit took, and its error.
	GroupCommit func(records, claims int, took time.Duration, err error)
	// Outcome follows every record the server decided (accepted,
	// duplicate, conflict), once its commit is durable.
	Outcome func(terminal.Result)
	// Claim follows every claim's answer (ok, conflict, revoked, ...).
	Claim func(wire.ClaimResult)
}

// Hub is the central server. Its methods are safe for concurrent use.
type Hub struct {
	opts     Options
	now      func() time.Time
	logf     func(string, ...any)
	store    Store
	identity ed25519.PrivateKey // first issuing key: credentials, welcomes
	keyMu    gosync.RWMutex
	priv     ed25519.PrivateKey // current minting key
	keys     *terminal.Keyring  // every issuing key; replaced whole
	prog     *terminal.Programme
	cache    *cache // terminals, merchants, params, revocations (cache.go)

	swept   time.Time // committer only: when expired holds were last dropped
	jobs    chan *job // batches
	claims  chan *job // claims and releases
	ctx     context.Context
	cancel  context.CancelFunc
	wg      gosync.WaitGroup // committer, pusher, memo sweeper
	connWG  gosync.WaitGroup // connections
	mu      gosync.Mutex
	conns   map[string]*conn // by terminal id
	fleetMu gosync.Mutex
	fleet   map[string]*live // by terminal id: what this instance heard (fleet.go)
	unauth  chan struct{}    // a place per unauthenticated connection (admit)
	refused refusals
	closing bool
	closed  chan struct{}
}

// New starts a hub over st (which it closes on Close): it loads the
// issuing keys (with opts.Create, makes the identity key if st has none)
// and starts the committer and, if st is a Watcher, the watch of changes
// made through other instances.
func New(st Store, opts Options) (*Hub, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = DefaultHoldTTL
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
	h := &Hub{opts: opts, now: opts.Now, logf: opts.Logf, store: st, prog: terminal.Qinshui2022(),
		jobs: make(chan *job, 256), claims: make(chan *job, 256), conns: map[string]*conn{}, fleet: map[string]*live{}, closed: make(chan struct{}),
		unauth: make(chan struct{}, opts.MaxUnauthenticated)}
	_, shared := st.(Watcher)
	h.cache = newCache(!shared) // a shared store's: once the watch listens
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := h.init(h.ctx); err != nil {
		h.cancel()
		return nil, err
	}
	h.wg.Add(3)
	go h.committer()
	go h.pusher()
	go h.memoSweeper()
	if w, ok := st.(Watcher); ok {
		h.wg.Add(1)
		go h.watch(w)
	}
	return h, nil
}

// init makes the issuing key if missing (with opts.Create) and loads the keys.
func (h *Hub) init(ctx context.Context) error {
	_, err := h.store.IssuingKeys(ctx)
	if errors.Is(err, ErrNotInitialised) && h.opts.Create {
		_, priv, gerr := ed25519.GenerateKey(nil)
		if gerr != nil {
			return gerr
		}
		if err = h.store.InitKeys(ctx, priv); errors.Is(err, ErrExists) {
			err = nil // another instance made it meanwhile
		}
	}
	if err == nil {
		err = h.loadKeys(ctx)
	}
	if err != nil {
		return fmt.Errorf("init hub: %w", err)
	}
	return nil
}

// loadKeys reads every issuing key (all trusted) and the current one (used to mint).
func (h *Hub) loadKeys(ctx context.Context) error {
	ks, err := h.store.IssuingKeys(ctx)
	if err != nil {
		return err
	}
	ring := &terminal.Keyring{}
	for _, k := range ks.All {
		if err := ring.Add(k.Public().(ed25519.PublicKey)); err != nil {
			return err
		}
	}
	h.keyMu.Lock()
	if h.identity == nil { // set once, before any goroutine reads it
		h.identity = ks.Identity
	}
	h.keys, h.priv = ring, ks.Current
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
	if err := h.alive(); err != nil {
		return 0, err
	}
	err = h.store.AddKey(ctx, priv, true)
	if err == nil {
		err = h.loadKeys(ctx)
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
	err := h.store.Close()
	close(h.closed)
	return err
}
