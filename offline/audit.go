package offline

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// verifyChunk is how many records one read transaction of Verify copies:
// the chain is checked outside the transactions, so a long audit never
// holds one open across the signature checks.
const verifyChunk = 1024

// Audit is the result of verifying a ledger's chain.
type Audit struct {
	TerminalID string `json:"terminal_id"`
	// Records is the number of records verified, from seq 1 to Head.
	Records uint64 `json:"records"`
	// Head is the hash of the last record (zero for an empty ledger).
	Head [32]byte `json:"head"`
}

// Verify walks the chain from its start and checks every record: its
// sequence follows the previous one, it carries the previous record's
// hash, its hash is terminal.ChainHash of its body, the terminal's key
// signed it, its body names this terminal and sequence, and the last one is
// the last sequence number the ledger gave out. A deleted, reordered or altered record gives
// an error matching terminal.ErrChain.
func (l *Ledger) Verify(ctx context.Context) (Audit, error) {
	l.mu.RLock()
	head, hash := l.head, l.hash
	l.mu.RUnlock()
	a, err := verifyChain(ctx, l.opts.TerminalID, l.pub, head, &hash, l.Pending)
	if err != nil {
		return a, fmt.Errorf("verify ledger: %w", err)
	}
	return a, nil
}

type pendingFunc func(ctx context.Context, after uint64, n int) ([]terminal.Sealed, error)

// verifyChain verifies records 1 to head, read through pending, and, if
// hash is not nil, that the last one's hash is *hash.
func verifyChain(ctx context.Context, terminalID string, pub ed25519.PublicKey, head uint64, hash *[32]byte, pending pendingFunc) (Audit, error) {
	a := Audit{TerminalID: terminalID}
	var seq uint64
	var prev [32]byte
	for seq < head {
		recs, err := pending(ctx, seq, int(min(verifyChunk, head-seq)))
		if err != nil {
			return a, err
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if err := checkBody(terminalID, &recs[i]); err != nil {
				return a, err
			}
		}
		seq, prev, err = terminal.VerifyChain(pub, seq, prev, recs)
		a.Records, a.Head = seq, prev
		if err != nil {
			return a, err
		}
	}
	if seq != head {
		return a, fmt.Errorf("chain ends at seq %d, the ledger numbered %d records: %w", seq, head, terminal.ErrChain)
	}
	if hash != nil && prev != *hash {
		return a, fmt.Errorf("last record seq %d changed since it was committed: %w", seq, terminal.ErrChain)
	}
	return a, nil
}

// checkBody checks that a record's body is its terminal's record at its seq.
func checkBody(terminalID string, s *terminal.Sealed) error {
	var r struct {
		ID         string `json:"id"`
		Seq        uint64 `json:"seq"`
		TerminalID string `json:"terminal_id"`
	}
	if err := json.Unmarshal(s.Body, &r); err != nil {
		return fmt.Errorf("seq %d: body is not a record: %v: %w", s.Seq, err, terminal.ErrChain)
	}
	if r.Seq != s.Seq || r.TerminalID != terminalID || r.ID != terminal.RecordID(terminalID, s.Seq) {
		return fmt.Errorf("seq %d: body says %s seq %d: %w", s.Seq, r.ID, r.Seq, terminal.ErrChain)
	}
	return nil
}

// VerifyFile audits a ledger file with the terminal's public key alone (an
// auditor has no private key): it opens the file read-only, so it fails
// with ErrLocked while the agent runs, verifies the chain as Ledger.Verify
// does, then runs bbolt's page consistency check (ErrCorrupt).
func VerifyFile(ctx context.Context, path string, pub ed25519.PublicKey) (Audit, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Audit{}, fmt.Errorf("verify %s: terminal key has %d bytes", path, len(pub))
	}
	db, err := openReadOnly(path)
	if err != nil {
		return Audit{}, fmt.Errorf("verify %s: %w", path, err)
	}
	defer db.Close()
	var terminalID string
	var head uint64
	err = safeView(db, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || !knownFormat(meta.Get(keyFormat)) || tx.Bucket(bucketOutbox) == nil || tx.Bucket(bucketRecords) == nil {
			return ErrForeign
		}
		terminalID = string(meta.Get(keyTerminal))
		head = tx.Bucket(bucketOutbox).Sequence()
		return nil
	})
	if err != nil {
		return Audit{}, fmt.Errorf("verify %s: %w", path, err)
	}
	pending := func(ctx context.Context, after uint64, n int) ([]terminal.Sealed, error) {
		return pendingFrom(ctx, db, after, n)
	}
	a, err := verifyChain(ctx, terminalID, pub, head, nil, pending)
	if err == nil {
		err = checkPages(db)
	}
	if err != nil {
		return a, fmt.Errorf("verify %s: %w", path, err)
	}
	return a, nil
}

// openReadOnly opens an existing ledger file read-only, as an auditor or
// Compact does; it fails with ErrLocked while the agent holds the file.
func openReadOnly(path string) (*bolt.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := safeOpen(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: DefaultLockTimeout})
	return db, translate(err)
}

// checkPages runs bbolt's consistency check over the whole file.
func checkPages(db *bolt.DB) error {
	return safeView(db, func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: the checker goroutine uses tx until it closes the channel
			if first == nil {
				first = fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		return first
	})
}

// pendingFrom reads up to n sealed records after seq from db.
func pendingFrom(ctx context.Context, db *bolt.DB, after uint64, n int) ([]terminal.Sealed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []terminal.Sealed
	err := safeView(db, func(tx *bolt.Tx) (err error) {
		out, err = readSealed(tx, after, n)
		return err
	})
	return out, err
}

// readSealed copies up to n sealed records after seq out of tx.
func readSealed(tx *bolt.Tx, after uint64, n int) ([]terminal.Sealed, error) {
	out, err := viewSealed(tx, after, n, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		ownSealed(&out[i])
	}
	return out, nil
}

// viewSealed appends up to n sealed records after seq in tx to out, their
// Sig and Body in tx's memory (valid while tx is open).
func viewSealed(tx *bolt.Tx, after uint64, n int, out []terminal.Sealed) ([]terminal.Sealed, error) {
	c := tx.Bucket(bucketRecords).Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
		s, err := viewSealedValue(getU64(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ErrExists is returned by Compact when the destination file exists.
var ErrExists = errors.New("destination file exists")

// Compact copies the ledger file src into a new file dst, leaving out the
// free pages that bbolt never gives back, and verifies the copy's chain
// with the terminal's public key. The agent must be stopped: src is opened
// read-only and Compact fails with ErrLocked while another process holds
// it. Replace src with dst (rename) only after Compact returns nil.
func Compact(ctx context.Context, dst, src string, pub ed25519.PublicKey) (Audit, error) {
	if _, err := os.Stat(dst); err == nil {
		return Audit{}, fmt.Errorf("compact to %s: %w", dst, ErrExists)
	}
	in, err := openReadOnly(src)
	if err != nil {
		return Audit{}, fmt.Errorf("compact %s: %w", src, err)
	}
	defer in.Close()
	out, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: DefaultLockTimeout})
	if err != nil {
		return Audit{}, fmt.Errorf("compact to %s: %w", dst, translate(err))
	}
	err = compact(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Audit{}, fmt.Errorf("compact %s to %s: %w", src, dst, translate(err))
	}
	return VerifyFile(ctx, dst, pub)
}

// compact copies src into dst, turning a fault on a damaged page into ErrCorrupt.
func compact(dst, src *bolt.DB) (err error) {
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bolt.Compact(dst, src, 16<<20)
}
