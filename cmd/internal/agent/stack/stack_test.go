package stack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/cmd/internal/agent/stack"
	"github.com/voucherpos/voucherpos/terminal"
)

// startStack runs hub, merchant and terminals in process on a clock that
// starts at noon today (UTC+8), so today's vouchers are valid.
func startStack(tb testing.TB, terminals ...string) *stack.Stack {
	tb.Helper()
	base, start := terminal.Day(time.Now()).Add(12*time.Hour), time.Now()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := stack.Start(context.Background(), stack.Options{Dir: tb.TempDir(), Terminals: terminals,
		Now: func() time.Time { return base.Add(time.Since(start)) }, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// TestStack_Day plays posdemo's day against a real hub, real agents,
// simulated scanners on ptys and real HTTP: every step as expected.
func TestStack_Day(t *testing.T) {
	s := startStack(t, "T1", "T2")
	var out strings.Builder
	steps, err := s.PlayDay(context.Background(), &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, st := range steps {
		if !st.OK {
			t.Errorf("step %d %s: expected %s, got %s", st.N, st.Title, st.Expect, st.Got)
		}
	}
	if len(steps) < 14 {
		t.Errorf("%d steps", len(steps))
	}
	if err := s.Report(context.Background(), s.Terminals[0], io.Discard); err != nil {
		t.Fatal(err)
	}
	// After the day, both binaries' /metrics show what happened.
	for _, m := range []struct{ url, want string }{
		{s.HubURL + "/metrics", "voucherd_decisions_total{result=\"accepted\"}"},
		{s.HubURL + "/metrics", "voucherd_connected_terminals 2"},
		{s.HubURL + "/metrics", "voucherd_group_commit_records_count"},
		{s.Terminals[0].Agent.URL() + "/metrics", "posagent_decisions_total{code=\"approved\"}"},
		{s.Terminals[0].Agent.URL() + "/metrics", "posagent_scans_total"},
		{s.Terminals[0].Agent.URL() + "/metrics", "posagent_sync_batch_seconds_count"},
	} {
		resp, err := http.Get(m.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), m.want) {
			t.Errorf("GET %s: %d, lacks %s", m.url, resp.StatusCode, m.want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}
