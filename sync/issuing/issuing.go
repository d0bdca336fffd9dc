// Package issuing is the server's issuing side: consumers' platforms claim
// vouchers at the drops (POST /v1/claims), the county adds rounds, drops,
// budget moves and love registrations, unredeemed vouchers expire at the
// end of their day and their value goes back to the pool, and /wallet/ is
// the consumer's page. The rules are terminal's (claim.go, pool.go); this
// package queues, decides in group commits and answers.
package issuing

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Defaults.
const (
	// DefaultGroupMax is the most claims one group commit decides.
	DefaultGroupMax = 4096
	// DefaultSweepEvery is how often expiry is checked; the sweep itself
	// runs at the first check after a day's end.
	DefaultSweepEvery = 5 * time.Second
	// queueLen is the claim queue's length; beyond it arrivals wait.
	queueLen = 1 << 16
	// secretLen is the length of the holder secret (Tx.Secret).
	secretLen = 32
)

// Errors of the service.
var (
	// ErrClosed is returned by operations on a closed service.
	ErrClosed = errors.New("issuing closed")
	// ErrInvalid is returned for an invalid admin request.
	ErrInvalid = errors.New("invalid request")
)

// Options configure a Service.
type Options struct {
	// Programme is the plan; nil means terminal.Qinshui2022.
	Programme *terminal.Programme
	// Now is the server's clock; nil means time.Now. Drops, claim windows
	// and expiry all use it.
	Now func() time.Time
	// Logf logs; nil means log.Printf.
	Logf func(format string, args ...any)
	// Signer returns the issuing key to sign new vouchers with. Required.
	Signer func() ed25519.PrivateKey
	// KeyFor returns the issuing key of an earlier voucher; nil means the
	// Signer's key only.
	KeyFor func(terminal.KeyID) (ed25519.PrivateKey, bool)
	// PlatformToken, if set, is required as "Authorization: Bearer TOKEN" on
	// /v1/claims and lets non-loopback callers in; empty means loopback only.
	PlatformToken string
	// AdminToken guards /admin/issuing/ the same way.
	AdminToken string
	// QR writes a voucher code as a PNG QR image for /wallet/qr.png; nil
	// means the wallet shows the codes as text only.
	QR func(w io.Writer, code string) error
	// GroupMax is the most claims a group commit takes; zero means DefaultGroupMax.
	GroupMax int
	// SweepEvery is how often expiry is checked; zero means DefaultSweepEvery.
	SweepEvery time.Duration
	// Nonces is how many signing nonces are made ahead at most (nonces.go);
	// zero means DefaultNonces, negative none: every code is signed by
	// ed25519.Sign at the claim.
	Nonces int
}

// Service is the issuing side. Its methods are safe for concurrent use.
type Service struct {
	opts   Options
	prog   *terminal.Programme
	now    func() time.Time
	logf   func(string, ...any)
	store  Store
	secret []byte
	pseud  *terminal.Pseudonyms // of secret

	queue chan *claimJob
	signq chan []*claimJob // committed groups, to sign and answer
	// skipSign leaves codes empty: the commit path's benchmark only.
	skipSign bool
	nonces   *nonces      // nil: Options.Nonces < 0
	lastTake atomic.Int64 // when the committer last took claims, Unix ns
	ctx      context.Context
	cancel   context.CancelFunc
	wg       gosync.WaitGroup
	mu       gosync.RWMutex // closed
	closed   bool
}

// Open starts the issuing service over st: it makes the holder secret if
// there is none, sweeps what expired while the server was down and starts
// the claim committer and the expiry sweeper. Close it when done (st is
// the caller's to close after).
func Open(st Store, opts Options) (*Service, error) {
	if opts.Signer == nil {
		return nil, fmt.Errorf("issuing: no Signer")
	}
	if opts.Programme == nil {
		opts.Programme = terminal.Qinshui2022()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	if opts.GroupMax <= 0 {
		opts.GroupMax = DefaultGroupMax
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = DefaultSweepEvery
	}
	if opts.Nonces == 0 {
		opts.Nonces = DefaultNonces
	}
	s := &Service{opts: opts, prog: opts.Programme, now: opts.Now, logf: opts.Logf, store: st,
		queue: make(chan *claimJob, queueLen), signq: make(chan []*claimJob, 2)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	err := st.Update(s.ctx, func(tx Tx) error {
		sec, err := tx.Secret(true)
		if err == nil && len(sec) != secretLen {
			err = fmt.Errorf("holder secret of %d bytes, want %d", len(sec), secretLen)
		}
		s.secret = sec
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issuing: %w", err)
	}
	s.pseud = terminal.NewPseudonyms(s.secret)
	if _, err := s.Sweep(s.ctx); err != nil {
		return nil, fmt.Errorf("issuing: first sweep: %w", err)
	}
	if opts.Nonces > 0 {
		s.nonces = newNonces(opts.Nonces)
	}
	s.wg.Add(3)
	go s.committer()
	go s.signer()
	go s.sweeper()
	if s.nonces != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.nonces.fill(s.ctx, opts.Signer, s.unclaimed, s.busy)
		}()
	}
	return s, nil
}

// Keys is where the issuing side gets its keys: the hub (*hub.Hub).
type Keys interface {
	// Signer returns the key to sign new vouchers with.
	Signer() ed25519.PrivateKey
	// KeyFor returns an earlier issuing key by id.
	KeyFor(terminal.KeyID) (ed25519.PrivateKey, bool)
}

// OpenWith is Open signing with keys' keys (opts.Signer and opts.KeyFor
// are set from it).
func OpenWith(st Store, keys Keys, opts Options) (*Service, error) {
	opts.Signer, opts.KeyFor = keys.Signer, keys.KeyFor
	return Open(st, opts)
}

// Close stops taking claims, decides and answers the queued ones and stops.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	// Claims queued after the committer stopped are refused.
	for {
		select {
		case j := <-s.queue:
			j.err = ErrClosed
			close(j.done)
		default:
			return nil
		}
	}
}

// Holder returns the pseudonym a platform user id has in voucher codes.
func (s *Service) Holder(platformID string) terminal.HolderID {
	return s.pseud.Of(platformID)
}

// voucherID returns the voucher id of claim number seq: a keyed 64-bit
// permutation of seq (four Feistel rounds), so ids are unique, yet tell
// nobody how many were claimed.
func (s *Service) voucherID(seq uint64) terminal.VoucherID {
	l, r := uint32(seq>>32), uint32(seq)
	// SHA-256(secret ‖ "vid:" ‖ round ‖ r), hashed from the stack: the
	// committer computes four per claim.
	var buf [secretLen + 4 + 1 + 4]byte
	n := copy(buf[:], s.secret) // secretLen bytes (Open)
	copy(buf[n:], "vid:")
	for i := range 4 {
		buf[n+4] = byte(i)
		binary.BigEndian.PutUint32(buf[n+5:], r)
		sum := sha256.Sum256(buf[:n+9])
		f := binary.BigEndian.Uint32(sum[:])
		l, r = r, l^f
	}
	return terminal.VoucherID(uint64(l)<<32 | uint64(r))
}

// rounds returns the programme's rounds and those added, in that order.
func (s *Service) rounds(tx Tx) ([]terminal.IssueRound, error) {
	added, err := tx.Rounds()
	if err != nil {
		return nil, err
	}
	return append(s.prog.IssueRounds(), added...), nil
}

// sign returns the code of a voucher claimed or issued with key id: with
// sig, the signature stored at the claim (Claim.Sig), else signed now by
// ed25519.Sign, which signs the same voucher the same way every time.
func (s *Service) sign(v terminal.Voucher, id terminal.KeyID, sig []byte) (string, error) {
	priv := s.opts.Signer()
	if terminal.KeyIDOf(priv.Public().(ed25519.PublicKey)) != id {
		k, ok := ed25519.PrivateKey(nil), false
		if s.opts.KeyFor != nil {
			k, ok = s.opts.KeyFor(id)
		}
		if !ok {
			return "", fmt.Errorf("issuing key %s is not available", id)
		}
		priv = k
	}
	if len(sig) == 0 {
		return terminal.Encode(v, priv)
	}
	return terminal.EncodeWith(v, priv.Public().(ed25519.PublicKey), func([]byte) []byte { return sig })
}

// presign signs a voucher being claimed with a nonce made ahead, if there
// is one: the code and the signature to store with the claim.
// key is the issuing key expanded for the group (nil: signing is off).
func (s *Service) presign(v terminal.Voucher, key *expandedKey) (code string, sig []byte, err error) {
	if key == nil || s.nonces == nil || s.skipSign {
		return "", nil, nil
	}
	n, ok := s.nonces.take()
	if !ok {
		return "", nil, nil
	}
	code, err = terminal.EncodeWith(v, key.pub, func(msg []byte) []byte {
		sig = key.sign(&n, msg)
		return sig
	})
	return code, sig, err
}

// unclaimed returns how many vouchers the drops not yet over can still
// issue: the nonces worth making ahead. A failed read counts as none.
func (s *Service) unclaimed() int {
	now, n := s.now(), 0
	_ = s.store.View(s.ctx, func(tx Tx) error {
		drops, err := tx.Drops()
		for i := range drops {
			if now.Before(drops[i].End()) {
				n += drops[i].Left()
			}
		}
		return err
	})
	return n
}

// busy reports whether claims were taken within nonceQuiet.
func (s *Service) busy() bool {
	return time.Since(time.Unix(0, s.lastTake.Load())) < nonceQuiet
}
