package gate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gate's Prometheus metrics. A nil *Metrics counts nothing.
// Safe for concurrent use.
type Metrics struct {
	taps         *prometheus.CounterVec
	readSeconds  prometheus.Histogram
	decideSecond prometheus.Histogram
	hookFailures *prometheus.CounterVec
	pcscUp       prometheus.Gauge
	readers      prometheus.Gauge
}

// NewMetrics creates the gate's metrics and registers them with reg (for
// example a prometheus.NewRegistry served by promhttp.HandlerFor):
//
//	citypass_gate_taps_total{decision,reason}  presentations by outcome:
//	    decision accept|deny|tap_again, reason OK|INVALID|…|ERROR|UNREADABLE|CARD_GONE
//	citypass_gate_card_read_seconds            credential read latency
//	citypass_gate_decision_seconds             Validate latency (durable journal included)
//	citypass_gate_hook_failures_total{hook}    actuator hooks that failed or timed out
//	citypass_gate_pcsc_up                      1 while pcscd is reachable
//	citypass_gate_readers                      watched readers present
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		taps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citypass_gate_taps_total",
			Help: "Card presentations by decision (accept, deny, tap_again) and reason.",
		}, []string{"decision", "reason"}),
		readSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citypass_gate_card_read_seconds",
			Help:    "Time to read and verify a credential, connect to disconnect.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13), // 0.5 ms .. 2 s
		}),
		decideSecond: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citypass_gate_decision_seconds",
			Help:    "Time for the engine to decide and durably journal a tap.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. 3.3 s
		}),
		hookFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citypass_gate_hook_failures_total",
			Help: "Actuator hooks (accept, deny) that failed or timed out.",
		}, []string{"hook"}),
		pcscUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citypass_gate_pcsc_up",
			Help: "1 while pcscd is reachable.",
		}),
		readers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citypass_gate_readers",
			Help: "Watched readers currently present.",
		}),
	}
	for _, c := range []prometheus.Collector{m.taps, m.readSeconds, m.decideSecond, m.hookFailures, m.pcscUp, m.readers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(o *Outcome) {
	if m == nil {
		return
	}
	m.taps.WithLabelValues(o.DecisionName(), o.ReasonName()).Inc()
	m.readSeconds.Observe(o.ReadTime.Seconds())
	if o.Tap.ID.Device != "" && o.DecideTime > 0 {
		m.decideSecond.Observe(o.DecideTime.Seconds())
	}
}

func (m *Metrics) hookFailed(hook string) {
	if m != nil {
		m.hookFailures.WithLabelValues(hook).Inc()
	}
}

func (m *Metrics) setUp(up bool) {
	if m == nil {
		return
	}
	if up {
		m.pcscUp.Set(1)
	} else {
		m.pcscUp.Set(0)
		m.readers.Set(0)
	}
}

func (m *Metrics) addReaders(n float64) {
	if m != nil {
		m.readers.Add(n)
	}
}

// SyncStatus is a fleet node's sync as the gate's metrics show it
// (docs/fleet.md): what the hub has acknowledged of the node's journal,
// what it has not, whether the node is connected, and state_as_of (the hub
// time up to which the node has the hub's state; zero before the first
// sync).
type SyncStatus struct {
	Acked     uint64 // the hub's high-water mark of this node's journal
	Backlog   uint64 // journal records the hub has not acknowledged
	Connected bool
	StateAsOf time.Time
}

// syncCollector reads a SyncStatus at each scrape.
type syncCollector struct {
	status                         func() SyncStatus
	now                            func() time.Time
	acked, backlog, connected, age *prometheus.Desc
}

// NewSyncMetrics registers with reg the sync gauges of a gate on a fleet
// node, read from status at each scrape (now is the node clock; nil:
// time.Now):
//
//	citypass_gate_sync_acknowledged_seq   the hub's high-water mark of the node's journal
//	citypass_gate_sync_backlog            journal records the hub has not acknowledged
//	citypass_gate_sync_connected          1 while connected to the hub
//	citypass_gate_sync_state_age_seconds  now − state_as_of (absent before the first sync)
//
// status is called from the scraping goroutine and must be safe for that.
func NewSyncMetrics(reg prometheus.Registerer, status func() SyncStatus, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return reg.Register(&syncCollector{status: status, now: now,
		acked: prometheus.NewDesc("citypass_gate_sync_acknowledged_seq",
			"The hub's high-water mark of this node's journal: every record up to it is durable at the hub.", nil, nil),
		backlog: prometheus.NewDesc("citypass_gate_sync_backlog",
			"Journal records of this node the hub has not acknowledged yet.", nil, nil),
		connected: prometheus.NewDesc("citypass_gate_sync_connected",
			"1 while the node is connected to its hub.", nil, nil),
		age: prometheus.NewDesc("citypass_gate_sync_state_age_seconds",
			"Age of the node's copy of the hub's state: now minus state_as_of, the hub time of the last heartbeat applied.", nil, nil),
	})
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.acked
	ch <- c.backlog
	ch <- c.connected
	ch <- c.age
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(c.acked, prometheus.GaugeValue, float64(st.Acked))
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(st.Backlog))
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected)
	if !st.StateAsOf.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, c.now().Sub(st.StateAsOf).Seconds())
	}
}
