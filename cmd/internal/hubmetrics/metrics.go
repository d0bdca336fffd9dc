// Package hubmetrics is voucherd's Prometheus metrics, in a registry of
// their own (no global state), fed by the hub's hooks and read from the
// hub at each scrape; cmd/voucherd and the in-process stack of posdemo and
// the tests wire the same set.
package hubmetrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/wire"
	"github.com/voucherpos/voucherpos/terminal"
)

// Metrics are voucherd's Prometheus metrics, served at /metrics behind the
// admin authentication (hub.Options.Metrics).
type Metrics struct {
	reg      *prometheus.Registry
	records  *prometheus.CounterVec
	claims   *prometheus.CounterVec
	commit   prometheus.Histogram
	group    prometheus.Histogram
	failures prometheus.Counter
}

// New returns the metrics, registered in a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voucherd_decisions_total",
			Help: "Synced records the server decided, by result: accepted, duplicate or conflict."}, []string{"result"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "voucherd_claims_total",
			Help: "Online claims answered, by result (ok, conflict, revoked, ...)."}, []string{"result"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "voucherd_commit_seconds",
			Help:    "Time of a group commit (one durable transaction for many terminals' records and claims).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		group: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "voucherd_group_commit_records",
			Help:    "Records taken by one group commit.",
			Buckets: []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 8000}}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "voucherd_commit_failures_total",
			Help: "Group commits that failed (nothing of them acknowledged)."}),
	}
	for _, r := range []terminal.Result{terminal.Accepted, terminal.Duplicate, terminal.Conflict} {
		m.records.WithLabelValues(string(r))
	}
	m.claims.WithLabelValues(string(wire.ClaimOK))
	m.reg.MustRegister(m.records, m.claims, m.commit, m.group, m.failures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// Hooks returns the hub hooks that feed m (hub.Options.Hooks).
func (m *Metrics) Hooks() hub.Hooks {
	return hub.Hooks{
		GroupCommit: func(records, _ int, took time.Duration, err error) {
			if err != nil {
				m.failures.Inc()
				return
			}
			m.commit.Observe(took.Seconds())
			m.group.Observe(float64(records))
		},
		Outcome: func(r terminal.Result) { m.records.WithLabelValues(string(r)).Inc() },
		Claim:   func(r wire.ClaimResult) { m.claims.WithLabelValues(string(r)).Inc() },
	}
}

// fleetCollector reads the connected terminals and the fleet's queue and
// exposure (as the terminals last reported them) at each scrape.
type fleetCollector struct{ h *hub.Hub }

var (
	connectedDesc = prometheus.NewDesc("voucherd_connected_terminals",
		"Terminals with a sync session on this instance.", nil, nil)
	fleetQueueDesc = prometheus.NewDesc("voucherd_fleet_queue_depth",
		"Records the terminals hold that the server has not acknowledged, as of their last hello.", nil, nil)
	fleetExposureDesc = prometheus.NewDesc("voucherd_fleet_offline_exposure_fen",
		"Discount (fen) of those records: what terminals approved offline and the server has not seen.", nil, nil)
)

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectedDesc
	ch <- fleetQueueDesc
	ch <- fleetExposureDesc
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, float64(c.h.Connected()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := c.h.Terminals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(fleetQueueDesc, err)
		return
	}
	var q, fen float64
	for _, t := range ts {
		q += float64(t.QueueDepth)
		fen += float64(t.UnsyncedFen)
	}
	ch <- prometheus.MustNewConstMetric(fleetQueueDesc, prometheus.GaugeValue, q)
	ch <- prometheus.MustNewConstMetric(fleetExposureDesc, prometheus.GaugeValue, fen)
}

// Handler serves m (hub.Options.Metrics); log receives scrape errors.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
}

// Watch adds h's connected terminals and fleet to m, once h is open.
func (m *Metrics) Watch(h *hub.Hub) { m.reg.MustRegister(fleetCollector{h}) }
