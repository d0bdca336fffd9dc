package agent

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voucherpos/voucherpos/terminal"
)

// metrics are the agent's Prometheus metrics, in a registry of its own
// (posdemo runs two agents in one process), served at /metrics.
type metrics struct {
	reg       *prometheus.Registry
	scans     prometheus.Counter
	decisions *prometheus.CounterVec
	claims    *prometheus.CounterVec
	commit    prometheus.Histogram
	sync      prometheus.Histogram
}

// latencyBuckets span a flash write on a slow terminal to a sync over a
// poor mobile link, in seconds.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(a *Agent) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		scans: prometheus.NewCounter(prometheus.CounterOpts{Name: "posagent_scans_total",
			Help: "Codes read by the scanner."}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_decisions_total",
			Help: "Vouchers decided at the lane (scanner and API), by code: approved or the decline code."}, []string{"code"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_claims_total",
			Help: "Online claims asked of the server, by result: held, the server's decline code, or unavailable (decided offline)."}, []string{"result"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posagent_commit_seconds",
			Help: "Time to commit a record durably to the ledger.", Buckets: latencyBuckets}),
		sync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posagent_sync_batch_seconds",
			Help: "Time from sending a batch of records to the server's acknowledgement.", Buckets: latencyBuckets}),
	}
	// The families show from the first scrape, before anything happened.
	m.decisions.WithLabelValues("approved")
	m.claims.WithLabelValues("held")
	m.claims.WithLabelValues("unavailable")
	m.reg.MustRegister(m.scans, m.decisions, m.claims, m.commit, m.sync,
		&statusCollector{a: a},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// decided counts a lane event that decided a voucher.
func (m *metrics) decided(ev *terminal.LaneEvent) {
	switch {
	case ev.Kind == terminal.EventApproved:
		m.decisions.WithLabelValues("approved").Inc()
	case ev.Kind == terminal.EventDeclined && ev.Decline != nil:
		m.decisions.WithLabelValues(string(ev.Decline.Code)).Inc()
	}
}

// claimed counts an online claim's answer.
func (m *metrics) claimed(err error) {
	var de *terminal.Error
	switch {
	case err == nil:
		m.claims.WithLabelValues("held").Inc()
	case errors.As(err, &de):
		m.claims.WithLabelValues(string(de.Code)).Inc()
	default:
		m.claims.WithLabelValues("unavailable").Inc()
	}
}

// timedLedger is the lane's ledger with its commits timed.
type timedLedger struct {
	terminal.Ledger
	h prometheus.Observer
}

func (t timedLedger) Commit(ctx context.Context, r *terminal.Redemption) error {
	start := time.Now()
	err := t.Ledger.Commit(ctx, r)
	t.h.Observe(time.Since(start).Seconds())
	return err
}

var (
	queueDesc = prometheus.NewDesc("posagent_queue_depth",
		"Records committed and not yet acknowledged by the server.", nil, nil)
	exposureDesc = prometheus.NewDesc("posagent_offline_exposure_fen",
		"Discount (fen) of the records not yet acknowledged: what the terminal has approved on its own word.", nil, nil)
	onlineDesc = prometheus.NewDesc("posagent_connected",
		"1 while a session with the server is up.", nil, nil)
)

// statusCollector reads the queue and the connection at each scrape.
type statusCollector struct{ a *Agent }

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- exposureDesc
	ch <- onlineDesc
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, fen, err := c.a.ledger.Unsynced(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(exposureDesc, prometheus.GaugeValue, float64(fen))
	} else {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
	}
	online := 0.0
	if c.a.link.Online() {
		online = 1
	}
	ch <- prometheus.MustNewConstMetric(onlineDesc, prometheus.GaugeValue, online)
}
