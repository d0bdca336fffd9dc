package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal/backoff"
)

const ms = time.Millisecond

func TestBackoff_Next(t *testing.T) {
	t.Run("FullJitterCapped", func(t *testing.T) {
		b := backoff.Backoff{Rand: func() float64 { return 0.999999 }}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
		for i, w := range want {
			got := b.Next()
			if got > w*time.Second || got < w*time.Second*99/100 {
				t.Errorf("attempt %d: got %v, want just under %v", i, got, w*time.Second)
			}
		}
	})
	t.Run("FullJitterFromZero", func(t *testing.T) {
		b := backoff.Backoff{Rand: func() float64 { return 0 }}
		if got := b.Next(); got != 0 {
			t.Errorf("got %v, want 0", got)
		}
	})
	t.Run("UpperHalf", func(t *testing.T) {
		b := backoff.Backoff{Base: 10 * ms, Cap: 80 * ms, Floor: 0.5, Rand: func() float64 { return 0.5 }}
		want := []time.Duration{7500 * time.Microsecond, 15 * ms, 30 * ms, 60 * ms, 60 * ms, 60 * ms}
		for i, w := range want {
			if got := b.Next(); got != w {
				t.Errorf("attempt %d: got %v, want %v", i, got, w)
			}
		}
		b.Rand = func() float64 { return 0.999 }
		for range 50 {
			if d := b.Next(); d >= 80*ms || d < 40*ms {
				t.Fatalf("wait %v out of [Cap/2, Cap)", d)
			}
		}
	})
	t.Run("Reset", func(t *testing.T) {
		b := backoff.Backoff{Rand: func() float64 { return 0.5 }}
		for range 5 {
			b.Next()
		}
		b.Reset()
		if got := b.Next(); got != 500*ms {
			t.Errorf("after Reset: got %v, want 500ms", got)
		}
	})
	t.Run("NoOverflow", func(t *testing.T) {
		b := backoff.Backoff{Base: time.Hour, Cap: 1 << 62, Rand: func() float64 { return 0.5 }}
		var last time.Duration
		for i := range 200 {
			d := b.Next()
			if d < last {
				t.Fatalf("attempt %d: wait %v shrank from %v", i, d, last)
			}
			last = d
		}
	})
	t.Run("CapBelowBase", func(t *testing.T) {
		b := backoff.Backoff{Base: 50 * ms, Cap: 10 * ms, Floor: 0.5, Rand: func() float64 { return 0 }}
		if got := b.Next(); got != 25*ms {
			t.Errorf("got %v, want 25ms (Cap raised to Base)", got)
		}
	})
}

func TestBackoff_Defaults(t *testing.T) {
	def := backoff.Backoff{Base: 50 * ms, Cap: time.Second, Floor: 0.5}
	got := backoff.Backoff{Cap: 2 * time.Second}.Defaults(def)
	if got.Base != 50*ms || got.Cap != 2*time.Second || got.Floor != 0.5 {
		t.Fatalf("got %+v", got)
	}
}

// Wait runs on the injected clock and returns at once when the context
// ends, whatever the wait.
func TestBackoff_Wait(t *testing.T) {
	fire := make(chan time.Time)
	var asked []time.Duration
	b := backoff.Backoff{Base: time.Hour, Rand: func() float64 { return 0.5 },
		After: func(d time.Duration) <-chan time.Time { asked = append(asked, d); return fire }}
	done := make(chan error)
	go func() { done <- b.Wait(t.Context()) }()
	fire <- time.Time{}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if len(asked) != 1 || asked[0] != 30*time.Minute {
		t.Fatalf("clock asked for %v, want [30m]", asked)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- b.Wait(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
	if err := backoff.Sleep(ctx, time.Hour, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context: %v", err)
	}
	if err := backoff.Sleep(t.Context(), time.Microsecond, nil); err != nil {
		t.Fatalf("Sleep on the real clock: %v", err)
	}
}
