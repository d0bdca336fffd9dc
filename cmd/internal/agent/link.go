package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/buildinfo"
	"github.com/voucherpos/voucherpos/cmd/internal/till"
	"github.com/voucherpos/voucherpos/sync/client"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// syncWait bounds how long POST /api/v1/sync waits for the outbox to drain.
const syncWait = 5 * time.Second

// link adapts the sync client to the lane (terminal.Authorizer) and to the
// API (till.Link). Without a server URL the agent works offline only.
type link struct {
	a *Agent
	c *client.Client // nil: offline only
}

var (
	_ terminal.Authorizer = (*link)(nil)
	_ till.Link           = (*link)(nil)
)

func newLink(a *Agent) *link {
	l := &link{a: a}
	o := &a.opts
	if o.Server == "" {
		return l
	}
	was := false
	version := buildinfo.Read().Short()
	l.c = client.New(client.Options{
		URL: o.Server, Credential: o.Credential, Outbox: a.ledger, State: a.ledger, Now: o.Now,
		Backoff: o.SyncBackoff, Insecure: o.InsecureSync,
		OnState: func(s terminal.ServerState) { // after Open: the lane is set
			a.lane.SetState(s)
			a.pokeStatus()
		},
		OnStatus: func(s client.Status) {
			if s.Online != was {
				was = s.Online
				a.log.Info("sync", "online", s.Online, "queue", s.QueueDepth, "last_error", s.LastError)
			}
			a.pokeStatus()
		},
		OnOutcomes: func(outs []terminal.Outcome) {
			for _, o := range outs {
				if o.Result == terminal.Conflict {
					a.log.Warn("sync conflict", "seq", o.Seq, "detail", o.Detail)
				}
			}
			a.pokeStatus()
		},
		OnBatch: func(_ int, d time.Duration) { a.metrics.sync.Observe(d.Seconds()) },
		Report:  func() wire.Report { return wire.Report{Agent: version, Fault: a.fault()} },
		Logf:    func(format string, args ...any) { a.log.Debug(fmt.Sprintf(format, args...), "component", "sync") },
	})
	return l
}

func (l *link) enabled() bool { return l.c != nil }

func (l *link) open(ctx context.Context) error {
	if l.c == nil {
		return nil
	}
	return l.c.Open()
}

func (l *link) close() error {
	if l.c == nil {
		return nil
	}
	return l.c.Close()
}

// kick asks the client to send the outbox now.
func (l *link) kick() {
	if l.c != nil {
		l.c.SyncNow()
	}
}

// Online reports whether a session with the server is up.
func (l *link) Online() bool { return l.c != nil && l.c.Status().Online }

// LastSync returns the terminal's clock at the last sync in this run.
func (l *link) LastSync() time.Time {
	if l.c == nil {
		return time.Time{}
	}
	return l.c.Status().LastSync
}

// SyncNow asks the client to sync and waits until the outbox is empty
// (every record acknowledged, conflicts included), or client.ErrOffline.
func (l *link) SyncNow(ctx context.Context) error {
	if l.c == nil {
		return client.ErrOffline
	}
	ctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	l.c.SyncNow()
	for {
		if l.c.Status().Online {
			n, _, err := l.a.ledger.Unsynced(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if !l.c.Status().Online {
				return client.ErrOffline
			}
			return fmt.Errorf("records still unsynced after %s", syncWait)
		case <-t.C:
			l.c.SyncNow()
		}
	}
}

// Claim asks the server to hold voucher id before an online approval.
func (l *link) Claim(ctx context.Context, id terminal.VoucherID, code string) error {
	if l.c == nil {
		return client.ErrOffline
	}
	err := l.c.Claim(ctx, id, code)
	l.a.metrics.claimed(err)
	return err
}

// Release gives up a claim.
func (l *link) Release(ctx context.Context, id terminal.VoucherID) error {
	if l.c == nil {
		return client.ErrOffline
	}
	return l.c.Release(ctx, id)
}
