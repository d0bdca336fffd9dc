package issuing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// ClaimRequest is one claim as the platform sends it (CONTRACT.md).
type ClaimRequest struct {
	// Holder is the platform's user id; it is never stored (Pseudonym).
	Holder   string            `json:"holder"`
	Category terminal.Category `json:"category"`
	SpendFen terminal.Fen      `json:"spend_fen"`
	OffFen   terminal.Fen      `json:"off_fen"`
	// FaceFen is a love voucher's face value: love vouchers are not claimed
	// at drops (docs/issuing.md), so a claim with it is unknown_denomination.
	FaceFen terminal.Fen `json:"face_fen,omitempty"`
	// Key is the Idempotency-Key ("" none).
	Key string `json:"-"`
}

// hash is what a replay with the same key must ask for again:
// SHA-256(holder ‖ category ‖ spend ‖ off ‖ face), hashed from the stack.
func (r *ClaimRequest) hash() [sha256.Size]byte {
	var buf [terminal.PlatformIDMax + 1 + 3*8]byte
	b := buf[:0]
	if len(r.Holder) > terminal.PlatformIDMax { // refused before it is hashed (Claim)
		b = make([]byte, 0, len(r.Holder)+1+3*8)
	}
	b = append(b, r.Holder...)
	b = append(b, byte(r.Category))
	b = binary.BigEndian.AppendUint64(b, uint64(r.SpendFen))
	b = binary.BigEndian.AppendUint64(b, uint64(r.OffFen))
	b = binary.BigEndian.AppendUint64(b, uint64(r.FaceFen))
	return sha256.Sum256(b)
}

// Issued is a voucher as the claim API answers it.
type Issued struct {
	VoucherID  terminal.VoucherID   `json:"voucher_id"`
	Code       string               `json:"code"`
	Category   terminal.Category    `json:"category"`
	Name       string               `json:"name"`
	SpendFen   terminal.Fen         `json:"spend_fen"`
	OffFen     terminal.Fen         `json:"off_fen"`
	FaceFen    terminal.Fen         `json:"face_fen,omitempty"`
	ValidFrom  time.Time            `json:"valid_from"`
	ValidUntil time.Time            `json:"valid_until"`
	Status     terminal.ClaimStatus `json:"status,omitempty"`
}

// ErrKeyReused is returned when an Idempotency-Key comes again with another request.
var ErrKeyReused = errors.New("idempotency key used before with another request")

// claimJob is one claim in the queue; done closes when it is decided (and
// durable, if it issued a voucher).
type claimJob struct {
	req    ClaimRequest
	holder terminal.HolderID
	hash   [sha256.Size]byte
	done   chan struct{}

	claim   Claim           // set when issued (or replayed)
	refusal *terminal.Error // set when refused by the rules
	err     error           // ErrKeyReused, ErrClosed, a store failure
	code    string
	// finished is set once the voucher is numbered and signed (finishing).
	finished atomic.Bool
	// replayOf is the claim of the same group this one replays (same key).
	replayOf *claimJob
	// sameHolder is the holder's claim issued before this one in the same
	// group, if any.
	sameHolder *claimJob
}

// Claim queues a claim and waits for its decision: the voucher issued (the
// same one again for a replayed key), a refusal (*terminal.Error with a
// claim code), ErrKeyReused, or a store error. It answers only after the
// group it was decided in is durable. Claims are decided in the order they
// reach the queue: first come, first served.
func (s *Service) Claim(ctx context.Context, req ClaimRequest) (Issued, error) {
	if err := terminal.CheckPlatformID(req.Holder); err != nil {
		return Issued{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	j := &claimJob{req: req, holder: s.Holder(req.Holder), hash: req.hash(), done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return Issued{}, ErrClosed
	}
	select {
	case s.queue <- j:
	case <-ctx.Done():
		s.mu.RUnlock()
		return Issued{}, ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the claim is decided whatever the caller does: a
	// platform that gave up retries with the same key and gets its answer.
	<-j.done
	switch {
	case j.err != nil:
		return Issued{}, j.err
	case j.refusal != nil:
		return Issued{}, j.refusal
	}
	return issued(&j.claim.Voucher, j.code, ""), nil
}

func issued(v *terminal.Voucher, code string, st terminal.ClaimStatus) Issued {
	out := Issued{VoucherID: v.ID, Code: code, Category: v.Category, Name: v.Category.Name(), SpendFen: v.SpendFen, OffFen: v.OffFen,
		ValidFrom: v.ValidFrom.In(terminal.Zone), ValidUntil: v.ValidUntil.In(terminal.Zone), Status: st}
	if v.Category == terminal.Love {
		out.FaceFen, out.OffFen = v.OffFen, 0
	}
	return out
}

// committer takes every queued claim (up to GroupMax) and decides them in
// arrival order in one transaction; the signer then signs the issued
// vouchers and answers, while the committer already decides the next group.
func (s *Service) committer() {
	defer s.wg.Done()
	defer close(s.signq)
	for {
		var group []*claimJob
		select {
		case j := <-s.queue:
			group = append(group, j)
		case <-s.ctx.Done():
			// Closing: nothing new is queued (Close holds the lock), so
			// decide what is left, then stop.
			select {
			case j := <-s.queue:
				group = append(group, j)
			default:
				return
			}
		}
		s.lastTake.Store(time.Now().UnixNano())
	drain:
		for len(group) < s.opts.GroupMax {
			select {
			case j := <-s.queue:
				group = append(group, j)
			default:
				break drain
			}
		}
		s.commit(group)
		s.signq <- group
	}
}

// signer signs the vouchers of each committed group and answers its claims.
func (s *Service) signer() {
	defer s.wg.Done()
	for group := range s.signq {
		if !s.skipSign {
			s.signAll(group)
		}
		for _, j := range group {
			close(j.done)
		}
	}
}

// commit decides a group in one transaction. It may run fn twice; every
// job's outcome is reset at its start.
func (s *Service) commit(group []*claimJob) {
	now := s.now()
	priv := s.opts.Signer()
	keyID := terminal.KeyIDOf(priv.Public().(ed25519.PublicKey))
	var key *expandedKey // expanded once for the group's signatures
	if s.nonces != nil && !s.skipSign {
		key = expandKey(priv)
		defer key.wipe()
	}
	// Not s.ctx: a group taken from the queue is decided and answered even
	// while the service closes.
	err := s.store.Update(context.Background(), func(tx Tx) error {
		rounds, err := s.rounds(tx)
		if err != nil {
			return err
		}
		drops, err := tx.Drops()
		if err != nil {
			return err
		}
		g := groupState{tx: tx, rounds: rounds, round: terminal.RoundAt(rounds, now), drops: drops, dirty: map[int]bool{},
			key: key, keyID: keyID, now: now, byKey: make(map[string]*claimJob, len(group)),
			byHolder: make(map[terminal.HolderID]*claimJob, len(group))}
		if p, ok := tx.(Prefetcher); ok {
			if err := s.prefetch(p, group, g.round != nil); err != nil {
				return err
			}
		}
		// The vouchers issued are numbered and signed on every core while
		// the committer goes on deciding, and stored in claim order as
		// they are ready.
		f := s.startFinishing(len(group), key)
		defer f.stop()
		sent, stored := 0, 0
		for _, j := range group {
			j.claim, j.refusal, j.err, j.code, j.replayOf, j.sameHolder = Claim{}, nil, nil, "", nil, nil
			j.finished.Store(false)
			if err := s.decide(&g, j); err != nil {
				return err
			}
			if len(g.issued)-sent >= finishChunk {
				f.give(g.issued[sent:])
				sent = len(g.issued)
			}
			if stored, err = f.store(tx, g.issued, stored, false); err != nil {
				return err
			}
		}
		if sent < len(g.issued) {
			f.give(g.issued[sent:])
		}
		f.done()
		if _, err := f.store(tx, g.issued, stored, true); err != nil {
			return err
		}
		if err := f.stop(); err != nil {
			return err // a signature failed: what was stored is rolled back
		}
		for _, j := range group {
			if o := j.replayOf; o != nil {
				j.claim, j.code = o.claim, o.code
			}
		}
		for i := range g.dirty {
			if err := tx.PutDrop(&drops[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.logf("issuing: commit of %d claims failed: %v", len(group), err)
		}
		for _, j := range group {
			j.claim, j.refusal, j.err = Claim{}, nil, fmt.Errorf("claims not stored: %w", err)
		}
	}
}

// prefetch reads the claims a group's decisions look up: by key, and by
// holder when a round is open (decide).
func (s *Service) prefetch(p Prefetcher, group []*claimJob, holders bool) error {
	var keys []string
	var hs []terminal.HolderID
	for _, j := range group {
		if j.req.Key != "" {
			keys = append(keys, j.req.Key)
		}
		if holders {
			hs = append(hs, j.holder)
		}
	}
	return p.Prefetch(keys, hs)
}

// groupState is what every claim of a group commit is decided against.
type groupState struct {
	tx     Tx
	rounds []terminal.IssueRound
	round  *terminal.IssueRound // the round at now, nil if none
	drops  []terminal.Drop
	dirty  map[int]bool // drops whose count changed
	key    *expandedKey // nil: codes are signed after the commit
	keyID  terminal.KeyID
	// issued are the group's new claims, decided and not yet stored (commit
	// signs and stores them after the decisions), found by key and holder.
	issued   []*claimJob
	byKey    map[string]*claimJob
	byHolder map[terminal.HolderID]*claimJob // the latest; earlier ones by sameHolder
	now      time.Time
}

func (s *Service) decide(g *groupState, j *claimJob) error {
	tx, now := g.tx, g.now
	if j.req.Key != "" {
		if o, ok := g.byKey[j.req.Key]; ok {
			if o.hash != j.hash {
				j.err = ErrKeyReused
			} else {
				j.replayOf = o
			}
			return nil
		}
		c, ok, err := tx.ClaimByKey(j.req.Key)
		if err != nil {
			return err
		}
		if ok {
			if !bytes.Equal(c.BodyHash, j.hash[:]) {
				j.err = ErrKeyReused
			} else {
				j.claim = c
			}
			return nil
		}
	}
	req := terminal.ClaimRequest{Category: j.req.Category, Denomination: terminal.Denomination{SpendFen: j.req.SpendFen, OffFen: j.req.OffFen}, Now: now}
	if j.req.FaceFen != 0 {
		req.Category = terminal.Love // love vouchers are registered, not claimed
		req.Denomination = terminal.Denomination{ValueFen: j.req.FaceFen}
	}
	var held []terminal.Held
	if r := g.round; r != nil {
		cs, err := tx.HolderClaims(j.holder)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.RoundID == r.ID {
				held = append(held, terminal.Held{Category: c.Voucher.Category, Denomination: c.Voucher.Denomination()})
			}
		}
	group:
		for o := g.byHolder[j.holder]; o != nil; o = o.sameHolder { // this group's, all of round r
			for _, c := range cs {
				if c.Seq == o.claim.Seq {
					continue group // stored already, counted above
				}
			}
			held = append(held, terminal.Held{Category: o.claim.Voucher.Category, Denomination: o.claim.Voucher.Denomination()})
		}
	}
	i, refusal := s.prog.DecideClaim(g.rounds, g.drops, held, req)
	if refusal != nil {
		j.refusal = refusal
		return nil
	}
	d, r := &g.drops[i], g.round
	d.Claimed++
	g.dirty[i] = true
	// Made in place in the job (a Claim of its own would escape to the heap
	// through AddClaim); a failure fails the whole group (commit).
	c := &j.claim
	*c = Claim{Key: j.req.Key, BodyHash: j.hash[:], RoundID: r.ID, Drop: d.ID, KeyID: g.keyID, At: now, Status: terminal.StatusClaimed}
	seq, err := tx.NextClaimSeq()
	if err != nil {
		return err
	}
	c.Seq = seq
	c.Voucher = s.prog.ClaimedVoucher(r, d, 0, j.holder, now) // its id: finishing
	g.issued = append(g.issued, j)
	if j.req.Key != "" {
		g.byKey[j.req.Key] = j
	}
	j.sameHolder = g.byHolder[j.holder]
	g.byHolder[j.holder] = j
	return nil
}

// finishing numbers (voucherID, four SHA-256 each) and signs (presign) a
// group's new vouchers on every core while the committer goes on deciding.
// The committer publishes them in chunks; workers take the chunks in order,
// and so does the committer when it needs a voucher no worker has taken: a
// drop's crowd of runnable callers can keep the workers from running for
// tens of milliseconds (Go's scheduler has no priorities), and the
// committer then finishes the group itself rather than wait.
type finishing struct {
	s         *Service
	key       *expandedKey
	chunks    [][]*claimJob // chunks[:published] are given
	published atomic.Int32
	next      atomic.Int32  // the first chunk no one has taken
	wake      chan struct{} // a chunk was given, or done (closed)
	ready     chan struct{} // a worker finished a chunk (1 buffered, never blocks)
	closed    atomic.Bool
	wg        gosync.WaitGroup
	mu        gosync.Mutex
	err       error // the first failure
}

// finishChunk is how many decided claims are given at once.
const finishChunk = 16

// startFinishing starts the workers for a group of n claims: none for a
// small group, which the committer finishes itself.
func (s *Service) startFinishing(n int, key *expandedKey) *finishing {
	chunks := (n + finishChunk - 1) / finishChunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if chunks < 2 {
		workers = 0
	}
	f := &finishing{s: s, key: key, chunks: make([][]*claimJob, chunks), wake: make(chan struct{}, max(workers, 1)),
		ready: make(chan struct{}, 1)}
	for range workers {
		f.wg.Add(1)
		go f.work()
	}
	return f
}

// give publishes decided claims to be finished.
func (f *finishing) give(chunk []*claimJob) {
	i := f.published.Load()
	f.chunks[i] = chunk
	f.published.Store(i + 1)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take returns the next chunk no one has taken, if one is given.
func (f *finishing) take() ([]*claimJob, bool) {
	for {
		i := f.next.Load()
		if i >= f.published.Load() {
			return nil, false
		}
		if f.next.CompareAndSwap(i, i+1) {
			return f.chunks[i], true
		}
	}
}

func (f *finishing) work() {
	defer f.wg.Done()
	for {
		if chunk, ok := f.take(); ok {
			f.finish(chunk)
			select {
			case f.ready <- struct{}{}:
			default:
			}
			continue
		}
		if f.closed.Load() {
			return
		}
		<-f.wake
	}
}

func (f *finishing) finish(chunk []*claimJob) {
	for _, j := range chunk {
		var err error
		j.claim.Voucher.ID = f.s.voucherID(j.claim.Seq)
		j.code, j.claim.Sig, err = f.s.presign(j.claim.Voucher, f.key)
		if err != nil {
			f.mu.Lock()
			f.err = cmp.Or(f.err, err)
			f.mu.Unlock()
		}
		j.finished.Store(true)
	}
}

// done says no more claims are given: the workers end when none is left.
func (f *finishing) done() {
	if !f.closed.Swap(true) {
		close(f.wake)
	}
}

// stop ends the workers once every voucher given is finished, and
// returns the first failure to finish one.
func (f *finishing) stop() error {
	f.done()
	f.wg.Wait()
	return f.err // the workers are done: no lock needed
}

// store adds issued[from:] to tx in claim order while they are finished
// and returns how many of issued are stored. With wait (after the last
// give) it stores them all: it finishes the chunks no worker has taken
// itself, and waits only for those a worker is finishing.
func (f *finishing) store(tx Tx, issued []*claimJob, from int, wait bool) (int, error) {
	for from < len(issued) {
		j := issued[from]
		if !j.finished.Load() {
			if !wait {
				return from, nil
			}
			if chunk, ok := f.take(); ok {
				f.finish(chunk)
			} else {
				<-f.ready
			}
			continue
		}
		if err := tx.AddClaim(&j.claim); err != nil {
			return from, err
		}
		from++
	}
	return from, nil
}

// signAll signs the vouchers of a group's issued claims not signed at the
// commit (no nonce was ready, or a replay), in parallel: ed25519.Sign is
// the costly part of a claim.
func (s *Service) signAll(group []*claimJob) {
	workers := runtime.GOMAXPROCS(0)
	var wg gosync.WaitGroup
	next := make(chan *claimJob)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				code, err := s.sign(j.claim.Voucher, j.claim.KeyID, j.claim.Sig)
				if err != nil {
					j.err = err
				}
				j.code = code
			}
		}()
	}
	for _, j := range group {
		if j.err == nil && j.refusal == nil && j.code == "" {
			next <- j
		}
	}
	close(next)
	wg.Wait()
}
