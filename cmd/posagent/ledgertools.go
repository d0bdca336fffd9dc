package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent"
	"github.com/voucherpos/voucherpos/offline"
	"github.com/voucherpos/voucherpos/sync/wire"
)

// verify checks the ledger in -data: directly when the agent is stopped,
// or a consistent copy fetched from the running agent.
func verify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("posagent verify")
	data := fs.String("data", "", "data directory of the ledger (required)")
	cred := fs.String("credential", "", "credential file: check the records against the terminal's key from it (default: the key the file stores)")
	httpAddr := fs.String("http", agent.DefaultHTTP, "address of the running agent, asked for a copy while it holds the ledger")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *data == "" {
		return &errUsage{"-data DIR is required"}
	}
	path := filepath.Join(*data, agent.LedgerFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	copyPath, cleanup, err := stableCopy(ctx, path, *httpAddr)
	if err != nil {
		return err
	}
	defer cleanup()
	pub, err := offline.StoredKey(copyPath)
	if err != nil {
		return err
	}
	if *cred != "" {
		c, err := wire.LoadCredential(*cred)
		if err != nil {
			return err
		}
		if want := c.PrivateKey().Public().(ed25519.PublicKey); !bytes.Equal(pub, want) {
			return fmt.Errorf("verify %s: the file is signed with another key than %s's: %w", path, *cred, offline.ErrForeign)
		}
	}
	a, err := offline.VerifyFile(ctx, copyPath, pub)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "ledger %s: sound: terminal %s, %d records, head %x\n", path, a.TerminalID, a.Records, a.Head[:8])
	return nil
}

// backup writes a consistent copy of the ledger in -data to -out.
func backup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("posagent backup")
	data := fs.String("data", "", "data directory of the ledger (required)")
	out := fs.String("out", "", "file to write the copy to (required; must not exist)")
	httpAddr := fs.String("http", agent.DefaultHTTP, "address of the running agent, asked for the copy while it holds the ledger")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *data == "":
		return &errUsage{"-data DIR is required"}
	case *out == "":
		return &errUsage{"-out FILE is required"}
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("backup to %s: %w", *out, offline.ErrExists)
	}
	path := filepath.Join(*data, agent.LedgerFile)
	tmp := *out + ".partial"
	if err := writeCopy(ctx, path, *httpAddr, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	pub, err := offline.StoredKey(tmp)
	if err == nil {
		var a offline.Audit
		if a, err = offline.VerifyFile(ctx, tmp, pub); err == nil {
			if err = os.Rename(tmp, *out); err == nil {
				fmt.Fprintf(stdout, "backup %s: %d records, head %x, verified\n", *out, a.Records, a.Head[:8])
				return nil
			}
		}
	}
	os.Remove(tmp)
	return fmt.Errorf("backup of %s: %w", path, err)
}

// stableCopy returns a path to read the ledger at path from: the file
// itself when no agent holds it, else a copy the running agent wrote.
func stableCopy(ctx context.Context, path, httpAddr string) (string, func(), error) {
	if _, err := offline.StoredKey(path); !errors.Is(err, offline.ErrLocked) {
		return path, func() {}, nil // not running (or a fault VerifyFile reports)
	}
	dir, err := os.MkdirTemp("", "posagent-verify-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	tmp := filepath.Join(dir, agent.LedgerFile)
	if err := fetchBackup(ctx, httpAddr, tmp); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("the agent holds %s; ask it for a copy: %w", path, err)
	}
	return tmp, cleanup, nil
}

// writeCopy writes a consistent copy of the ledger at path to dst: read
// directly when no agent holds it, else from the running agent.
func writeCopy(ctx context.Context, path, httpAddr, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = offline.BackupFile(ctx, path, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if !errors.Is(err, offline.ErrLocked) {
		return err
	}
	if err := os.Remove(dst); err != nil {
		return err
	}
	if err := fetchBackup(ctx, httpAddr, dst); err != nil {
		return fmt.Errorf("the agent holds %s; ask it for a copy: %w", path, err)
	}
	return nil
}

// fetchBackup asks the running agent for a consistent copy of its ledger
// (GET /api/v1/backup) and writes it to dst, synced.
func fetchBackup(ctx context.Context, addr, dst string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	req, err := http.NewRequestWithContext(ctx, "GET", addr+"/api/v1/backup", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent answered %s", resp.Status)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
