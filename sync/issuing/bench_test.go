package issuing_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore/pgtest"
	"github.com/voucherpos/voucherpos/terminal"
)

// benchHolders is the size of the drop's crowd.
const benchHolders = 10_000

// benchClients is how many claims are in flight at once (the platform's
// connections), as in the Redis comparison of the issue.
const benchClients = 64

// bareBatchedPuts returns the rate of bare bbolt puts of claim-sized values
// (400 bytes) under sequential keys in transactions of group, each
// committed with its fsync: the ceiling of any group commit of that size on
// this disk. With c clients in flight a group holds at most c claims, so
// the benchmark's baseline is groups of min(clients, DefaultGroupMax).
func bareBatchedPuts(b *testing.B, n, group int) float64 {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 400)
	start := time.Now()
	for done := 0; done < n; {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := 0; i < group && done < n; i++ {
				done++
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(done)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkClaims_Drop: 10,000 holders claim from a drop of 10,000 with 64
// claims in flight, and with all 10,000 at once, through the service
// (decision, group commit with its fsync, signature). The signing nonces
// are made before the drop, as the server does while no claims come
// (nonces-ahead-ms: the wait for them, not timed), and the clients'
// goroutines are made before the timer and start together. Reported: claims/s, p99
// latency, and the ratios to bare batched bbolt puts and to ed25519.Sign
// on every core, measured in the same run; and the process's CPU time per
// claim (cpu-µs/claim, every goroutine: clients, committer, signers, GC)
// with the rate the machine's cores would allow at that cost
// (cpu-ceiling-claims/s = cores ÷ CPU per claim), since on a shared machine
// the wall-clock rate says as much about the neighbours as about the code. Signing can be left out
// (-run XXX -bench Claims_Drop/bolt/clients=64/nosign) to see the commit
// path alone.
func BenchmarkClaims_Drop(b *testing.B) {
	for _, engine := range []string{engineBolt, enginePG} {
		for _, clients := range []int{benchClients, benchHolders} {
			b.Run(fmt.Sprintf("%s/clients=%d", engine, clients), func(b *testing.B) { benchDrop(b, engine, clients, false) })
			b.Run(fmt.Sprintf("%s/clients=%d/nosign", engine, clients), func(b *testing.B) { benchDrop(b, engine, clients, true) })
		}
	}
}

// signRate returns how many voucher codes per second this machine signs on
// all its cores: the ceiling of any claim rate, since every claimed voucher
// carries its holder in its signed code.
func signRate(b *testing.B, n int) float64 {
	v := terminal.Voucher{Category: terminal.Retail, SpendFen: r200.SpendFen, OffFen: r200.OffFen, ValidFrom: ten,
		ValidUntil: ten.Add(time.Hour), Region: 140521, Campaign: 202202, Round: 1}
	var next atomic.Int64
	var wg gosync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := v; next.Add(1) <= int64(n); {
				w.ID++
				if _, err := terminal.Encode(w, issuerKey); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func benchDrop(b *testing.B, engine string, clients int, nosign bool) {
	bare := bareBatchedPuts(b, benchHolders, min(clients, issuing.DefaultGroupMax))
	signs := signRate(b, benchHolders)
	// The platform's ids, made before the timer: formatting them is the
	// benchmark's work, not the server's.
	reqs := make([]issuing.ClaimRequest, benchHolders+1)
	for i := 1; i <= benchHolders; i++ {
		reqs[i] = issuing.ClaimRequest{Holder: fmt.Sprintf("h%d", i), Category: terminal.Retail, SpendFen: r200.SpendFen,
			OffFen: r200.OffFen, Key: fmt.Sprintf("k%d", i)}
	}
	// Every claim's latency, in a slice made before the timer: the
	// benchmark's own bookkeeping allocates nothing while it is timed (its
	// garbage would make the server's collector run more often).
	lat := make([]time.Duration, 0, benchHolders*b.N)
	var total, ahead, cpu time.Duration
	for iter := range b.N {
		b.StopTimer()
		k := newKit(b, engine, ten)
		k.drop(terminal.Retail, r200, benchHolders)
		if nosign {
			issuing.SkipSigning(k.svc)
		}
		// The nonces are made before the drop, as the server makes them
		// before 10:00; without signing too, or making them would be
		// timed (the service makes them while no claims come).
		t0 := time.Now()
		issuing.WaitNonces(k.svc, benchHolders)
		ahead += time.Since(t0)
		var next atomic.Int64
		var wg, waiting gosync.WaitGroup
		run := lat[len(lat) : len(lat)+benchHolders] // this run's latencies, by claim
		// The crowd is there before the drop: the clients' goroutines are
		// made and waiting before the timer (as the platform's connections
		// are open before 10:00), and all start at once.
		drop := make(chan struct{})
		for range clients {
			wg.Add(1)
			waiting.Add(1)
			go func() {
				defer wg.Done()
				waiting.Done()
				<-drop
				for {
					i := next.Add(1)
					if i > benchHolders {
						break
					}
					t0 := time.Now()
					_, err := k.svc.Claim(context.Background(), reqs[i])
					if err != nil {
						b.Error(err)
						return
					}
					run[i-1] = time.Since(t0)
				}
			}()
		}
		waiting.Wait()
		stopProfile := pgtest.CPUProfile(b, "CLAIMS_CPUPROFILE", fmt.Sprintf("%s-%d-%v.%d", engine, clients, nosign, iter)) // the drop alone
		b.StartTimer()
		cpu0 := pgtest.ProcessCPU()
		start := time.Now()
		close(drop)
		wg.Wait()
		total += time.Since(start)
		cpu += pgtest.ProcessCPU() - cpu0
		b.StopTimer()
		stopProfile()
		lat = lat[:len(lat)+benchHolders]
		k.close()
	}
	rate := float64(benchHolders*b.N) / total.Seconds()
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	b.ReportMetric(rate, "claims/s")
	b.ReportMetric(bare, "bare-puts/s")
	b.ReportMetric(rate/bare, "x-bare-puts")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(signs, "signs/s")
	b.ReportMetric(rate/signs, "x-signs")
	perClaim := cpu / time.Duration(benchHolders*b.N)
	b.ReportMetric(float64(perClaim.Nanoseconds())/1000, "cpu-µs/claim")
	b.ReportMetric(float64(runtime.NumCPU())*1e9/float64(perClaim.Nanoseconds()), "cpu-ceiling-claims/s")
	if !nosign {
		b.ReportMetric(float64(ahead.Milliseconds())/float64(b.N), "nonces-ahead-ms")
	}
}
