package hub

import (
	"context"
	"time"
)

// A handshake writes: the terminal's hello (when it connected and the
// highest sequence it reported, which the review of its later records and
// the offline limits count from) and reads its chain and head in the same
// transaction. In a reconnect storm thousands of handshakes come at once;
// each in a transaction of its own would cost a commit (an fsync on bbolt)
// and, since a handshake holds one of the few unauthenticated places
// (Options.MaxUnauthenticated) while it waits, turn the rest of the storm
// away with 503. So the handshake hands its write to the committer, which
// records every hello waiting in its next group commit (with the claims,
// before the batches) and answers each once the group is durable.

// helloJob is a handshake's part of a group commit.
type helloJob struct {
	at      time.Time // the server's clock at the hello
	highSeq uint64    // the highest sequence the terminal reported
	done    chan struct{}

	// Set by the committer.
	cs chainState
	hd Head
}

// commitHello records a terminal's hello in the committer's next group
// commit and returns the terminal's chains and the head of its current
// chain, read in that transaction.
func (h *Hub) commitHello(ctx context.Context, term string, at time.Time, highSeq uint64) (chainState, Head, error) {
	j := &job{kind: jobHello, term: term, hello: &helloJob{at: at, highSeq: highSeq, done: make(chan struct{})}}
	select {
	case h.claims <- j: // the priority queue: a handshake waits like a cashier
	case <-ctx.Done():
		return chainState{}, Head{}, ctx.Err()
	}
	select {
	case <-j.hello.done:
	case <-ctx.Done():
		return chainState{}, Head{}, ctx.Err()
	}
	return j.hello.cs, j.hello.hd, j.err
}

// applyHello is a hello's part of a group (safe to run again).
func (h *Hub) applyHello(tx Tx, j *job) error {
	hl := j.hello
	hl.cs, hl.hd = chainState{}, Head{}
	if err := getMemo(tx, chainMemo(j.term), &hl.cs); err != nil {
		return err
	}
	var err error
	if hl.hd, err = tx.Head(hl.cs.current(j.term)); err != nil {
		return err
	}
	return recordHello(tx, j.term, hello{At: hl.at, HighSeq: hl.highSeq}, hl.hd.Seq)
}

// helloKeys adds what a hello reads to a group's keys.
func helloKeys(k *Keys, j *job) {
	k.Terminals = append(k.Terminals, j.term)
	k.Memos = append(k.Memos, chainMemo(j.term), syncMemo(j.term))
}
