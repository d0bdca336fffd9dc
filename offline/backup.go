package offline

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the ledger file to w while the ledger
// stays in use (bbolt's Tx.WriteTo in one read transaction): the copy holds
// every record committed before Backup began. It is the one read that
// holds a transaction across I/O: a commit that must grow the file waits
// for it to end (a copy of a 100 MB file takes about a second).
func (l *Ledger) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := l.view(ctx, func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup ledger: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent copy of the closed ledger file at path to
// w. It fails with ErrLocked while the agent holds the file: then ask the
// agent (Ledger.Backup).
func BackupFile(ctx context.Context, path string, w io.Writer) (int64, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", path, err)
	}
	defer db.Close()
	var n int64
	err = safeView(db, func(tx *bolt.Tx) (err error) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", path, err)
	}
	return n, nil
}

// StoredKey returns the terminal public key a closed ledger file says its
// records are signed with. VerifyFile with it checks the file's own
// consistency; an auditor checks against the key the server enrolled.
func StoredKey(path string) (ed25519.PublicKey, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer db.Close()
	var pub ed25519.PublicKey
	err = safeView(db, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || !knownFormat(meta.Get(keyFormat)) {
			return ErrForeign
		}
		if k := meta.Get(keyPublicKey); len(k) == ed25519.PublicKeySize {
			pub = append(ed25519.PublicKey(nil), k...)
			return nil
		}
		return fmt.Errorf("%w: no terminal key stored", ErrCorrupt)
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return pub, nil
}
