package pgstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// ErrKeyFile is returned when the key file does not open the issuing keys
// stored in the database (another database's file, or a damaged one).
var ErrKeyFile = errors.New("the key file does not open this database's issuing keys")

// sealer seals issuing-key seeds with AES-256-GCM under the key file's key.
type sealer struct{ aead cipher.AEAD }

// loadKeyFile reads the key file (64 hex digits and a newline); with
// create, a missing file is made with a fresh random key, mode 0600.
func loadKeyFile(path string, create bool) (*sealer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		b = []byte(hex.EncodeToString(key))
	} else if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("key file %s: want 64 hex digits", path)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &sealer{aead}, nil
}

// seal returns nonce ‖ ciphertext of seed, bound to the key id.
func (s *sealer) seal(id uint32, seed []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(seed)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, seed, binary.BigEndian.AppendUint32(nil, id))
}

func (s *sealer) open(id uint32, sealed []byte) (ed25519.PrivateKey, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrKeyFile
	}
	seed, err := s.aead.Open(nil, sealed[:n], sealed[n:], binary.BigEndian.AppendUint32(nil, id))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("issuing key %08x: %w", id, ErrKeyFile)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (s *Store) sealer() (*sealer, error) {
	if s.seal == nil {
		return nil, errors.New("issuing keys: no key file given (-key-file)")
	}
	return s.seal, nil
}

func keyID(k ed25519.PrivateKey) uint32 {
	return uint32(terminal.KeyIDOf(k.Public().(ed25519.PublicKey)))
}

// IssuingKeys reads and opens every issuing key.
func (s *Store) IssuingKeys(ctx context.Context) (hub.IssuingKeys, error) {
	var ks hub.IssuingKeys
	sl, err := s.sealer()
	if err != nil {
		return ks, err
	}
	rows, err := s.pool.Query(ctx, "SELECT id, sealed_seed, is_identity, is_current FROM issuing_keys ORDER BY added_at, id")
	if err != nil {
		return ks, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var sealed []byte
		var identity, current bool
		if err := rows.Scan(&id, &sealed, &identity, &current); err != nil {
			return ks, err
		}
		k, err := sl.open(uint32(id), sealed)
		if err != nil {
			return ks, err
		}
		ks.All = append(ks.All, k)
		if identity {
			ks.Identity = k
		}
		if current {
			ks.Current = k
		}
	}
	if err := rows.Err(); err != nil {
		return ks, err
	}
	if ks.Identity == nil {
		return ks, hub.ErrNotInitialised
	}
	if ks.Current == nil {
		ks.Current = ks.Identity
	}
	return ks, nil
}

// InitKeys stores the identity key, sealed.
func (s *Store) InitKeys(ctx context.Context, identity ed25519.PrivateKey) error {
	sl, err := s.sealer()
	if err != nil {
		return err
	}
	id := keyID(identity)
	return s.tx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM issuing_keys WHERE is_identity").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("issuing key: %w", hub.ErrExists)
		}
		_, err := tx.Exec(ctx, `INSERT INTO issuing_keys (id, public_key, sealed_seed, is_identity, is_current)
			VALUES ($1, $2, $3, true, true)`, int64(id), []byte(identity.Public().(ed25519.PublicKey)), sl.seal(id, identity.Seed()))
		if isUnique(err) {
			return fmt.Errorf("issuing key: %w", hub.ErrExists)
		}
		return err
	})
}

// AddKey stores another issuing key, sealed, and with current mints with
// it; every instance hears of it (ChangeKeys).
func (s *Store) AddKey(ctx context.Context, key ed25519.PrivateKey, current bool) error {
	sl, err := s.sealer()
	if err != nil {
		return err
	}
	id := keyID(key)
	return s.tx(ctx, func(tx pgx.Tx) error {
		if current {
			if _, err := tx.Exec(ctx, "UPDATE issuing_keys SET is_current = false WHERE is_current"); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO issuing_keys (id, public_key, sealed_seed, is_current) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET is_current = excluded.is_current`,
			int64(id), []byte(key.Public().(ed25519.PublicKey)), sl.seal(id, key.Seed()), current)
		if err != nil {
			return err
		}
		return s.notify(ctx, tx, hub.ChangeKeys, "")
	})
}
