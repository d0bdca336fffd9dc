package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Backuper is implemented by stores that can write a consistent copy of
// themselves while in use (the embedded bbolt ledger: Tx.WriteTo).
// PostgreSQL is backed up with its own tools (pg_basebackup, WAL archiving).
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// ErrNoBackup is returned when the hub's store has no backup of its own.
var ErrNoBackup = errors.New("this store is backed up with the database's own tools (pg_basebackup, WAL archiving)")

// Backup writes a hot, consistent copy of the hub's ledger to w.
func (h *Hub) Backup(ctx context.Context, w io.Writer) (int64, error) {
	b, ok := h.store.(Backuper)
	if !ok {
		return 0, ErrNoBackup
	}
	if err := h.alive(); err != nil {
		return 0, err
	}
	return b.Backup(ctx, w)
}

// serveBackup is GET /admin/backup: the ledger file as it is now.
func (h *Hub) serveBackup(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.store.(Backuper); !ok {
		http.Error(w, ErrNoBackup.Error(), http.StatusNotImplemented)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := h.Backup(r.Context(), w); err != nil {
		// Headers are gone: a cut body fails the client's length check.
		h.logf("hub: backup: %v", err)
		panic(http.ErrAbortHandler)
	}
}

// BackupFile asks the running server for a backup and writes it to path
// (which must not exist), fsynced; it returns its size.
func (r *Remote) BackupFile(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.URL, "/")+"/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	c := r.Client
	if c == nil {
		c = &http.Client{} // a backup takes as long as the file needs
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("backup: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %s bytes", n, strconv.FormatInt(resp.ContentLength, 10))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}
