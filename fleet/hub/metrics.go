package hub

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citypass/citypass/fleet"
)

// maxQuarantinedSeries bounds the citypass_hub_quarantined_tap series of a
// scrape (one per quarantined record, by node then tap id): a node restored
// from an old disk can quarantine thousands; node_quarantined counts them all.
const maxQuarantinedSeries = 100

// scrapeTimeout bounds the ledger reads and the JetStream requests of one
// scrape.
const scrapeTimeout = 5 * time.Second

// collector reads the hub's numbers at each scrape: the ingest counters
// (Stats), fleet status (ReadStatus, the same view as `citypass fleet
// status`), the streams and the ingest consumer as the server reports them,
// and the state publisher's position. It keeps no numbers of its own.
type collector struct {
	h        *Hub
	enrolled func() ([]string, error)

	uploads, applied, records, repeats, aliases, quarantined, gaps, rejected, failed *prometheus.Desc

	nodes, acked, reported, backlog, staleness, contactAge, offset, skewed, nodeQuarantined, quarantinedTap, atRisk, epochs *prometheus.Desc

	streamsUp, streamMsgs, streamBytes, streamFirst, streamLast, ingestPending, ingestUnacked *prometheus.Desc

	rev, pubRev, pubSeq, beatAge *prometheus.Desc
}

// RegisterMetrics registers with reg the hub's metrics (docs/fleet.md,
// "Observing the hub"), read from h at each scrape. enrolled lists the
// enrolled node ids (nil: none; fleet status shows a node that never made
// contact only when it is enrolled). A scrape fails when the hub ledger
// cannot be read; a JetStream that does not answer shows as
// citypass_hub_streams_up 0 without the stream series.
func RegisterMetrics(reg prometheus.Registerer, h *Hub, enrolled func() ([]string, error)) error {
	if enrolled == nil {
		enrolled = func() ([]string, error) { return nil, nil }
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("citypass_hub_"+name, help, labels, nil)
	}
	c := &collector{h: h, enrolled: enrolled,
		uploads:     d("uploads_received_total", "Uploads (batches of a node's journal records) the ingest received since the hub started, repeats included."),
		applied:     d("uploads_applied_total", "Uploads made durable in the hub ledger and acknowledged since the hub started."),
		records:     d("taps_journaled_total", "Node journal records (taps) journaled in the hub ledger since the hub started."),
		repeats:     d("taps_repeated_total", "Records received again that the hub already held under the same (node, epoch, seq)."),
		aliases:     d("taps_aliased_total", "Records the hub already held under another origin (the same tap uploaded twice)."),
		quarantined: d("taps_quarantined_total", "Records quarantined since the hub started (a tap id conflict, a rolled-back node, an unknown pass)."),
		gaps:        d("upload_gaps_total", "Uploads that arrived before the records they follow and were delivered again later."),
		rejected:    d("uploads_rejected_total", "Uploads that do not decode, dropped (the node re-sends the range)."),
		failed:      d("upload_errors_total", "Uploads the hub ledger failed to apply (delivered again)."),

		nodes:           d("nodes", "Nodes the hub knows of: enrolled, or seen in an upload or report."),
		acked:           d("node_acknowledged_seq", "The hub's high-water mark of the node's current epoch: every record up to it is durable at the hub.", "node"),
		reported:        d("node_reported_seq", "The node's last journal seq as it last reported it.", "node"),
		backlog:         d("node_backlog", "Records the node reported and the hub does not hold yet (its current epoch).", "node"),
		staleness:       d("node_staleness_seconds", "Hub time minus the state_as_of the node last reported: how old the hub's state the node decides on is, at least (absent before it reported one).", "node"),
		contactAge:      d("node_last_contact_age_seconds", "Hub time since the node's last upload or report (absent before the first).", "node"),
		offset:          d("node_clock_offset_seconds", "Hub clock minus node clock at the node's last report (absent before the first).", "node"),
		skewed:          d("node_clock_skewed", "1 when the node's clock offset exceeds 5 minutes.", "node"),
		nodeQuarantined: d("node_quarantined", "Quarantined records of the node (their tap ids are in `citypass fleet status`).", "node"),
		quarantinedTap:  d("quarantined_tap", "1 for each quarantined record, by node and tap id (the first 100 by node and tap id; node_quarantined counts them all).", "node", "tap"),
		atRisk:          d("node_at_risk", "Records older epochs of the node reported and the hub never received (a wiped or replaced disk): maybe lost.", "node"),
		epochs:          d("node_epochs", "Ledger epochs (incarnations) of the node the hub has seen.", "node"),

		streamsUp:     d("streams_up", "1 when JetStream answered this scrape's questions about the fleet's streams."),
		streamMsgs:    d("stream_messages", "Messages the stream holds.", "stream"),
		streamBytes:   d("stream_bytes", "Bytes the stream holds.", "stream"),
		streamFirst:   d("stream_first_seq", "Sequence of the oldest message the stream holds.", "stream"),
		streamLast:    d("stream_last_seq", "Sequence of the newest message stored in the stream.", "stream"),
		ingestPending: d("ingest_pending_uploads", "Uploads in the taps stream not yet delivered to the hub's ingest."),
		ingestUnacked: d("ingest_unacknowledged_uploads", "Uploads delivered to the ingest and not yet acknowledged."),

		rev:     d("state_revision", "Newest revision of the hub ledger's change log (sales, blocks, usage...)."),
		pubRev:  d("state_published_revision", "Newest revision the state publisher has sent down the state stream."),
		pubSeq:  d("state_published_stream_seq", "State stream sequence of the publisher's newest message."),
		beatAge: d("state_heartbeat_age_seconds", "Hub time since the publisher's last heartbeat (absent before the first)."),
	}
	return reg.Register(c)
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.uploads, c.applied, c.records, c.repeats, c.aliases, c.quarantined, c.gaps, c.rejected, c.failed,
		c.nodes, c.acked, c.reported, c.backlog, c.staleness, c.contactAge, c.offset, c.skewed, c.nodeQuarantined, c.quarantinedTap, c.atRisk, c.epochs,
		c.streamsUp, c.streamMsgs, c.streamBytes, c.streamFirst, c.streamLast, c.ingestPending, c.ingestUnacked,
		c.rev, c.pubRev, c.pubSeq, c.beatAge}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector; it is called by the scraping
// goroutine and reads only what is safe for concurrent use.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	s := &c.h.Stats
	counter(c.uploads, s.Uploads.Load())
	counter(c.applied, s.Applied.Load())
	counter(c.records, s.Records.Load())
	counter(c.repeats, s.Repeats.Load())
	counter(c.aliases, s.Aliases.Load())
	counter(c.quarantined, s.Quarantined.Load())
	counter(c.gaps, s.Gaps.Load())
	counter(c.rejected, s.Rejected.Load())
	counter(c.failed, s.Failed.Load())

	now := c.h.cfg.Now()
	st, err := c.status(ctx, now)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.nodes, err)
	} else {
		gauge(c.nodes, float64(len(st)))
		taps := 0
		for i := range st {
			n := &st[i]
			gauge(c.acked, float64(n.Acknowledged), n.Node)
			gauge(c.reported, float64(n.LastReported), n.Node)
			gauge(c.backlog, float64(n.Backlog), n.Node)
			if !n.StateAsOf.IsZero() {
				gauge(c.staleness, n.Staleness.Seconds(), n.Node)
			}
			if !n.LastContact.IsZero() {
				gauge(c.contactAge, n.SinceContact.Seconds(), n.Node)
			}
			if n.ClockKnown {
				gauge(c.offset, n.ClockOffset.Seconds(), n.Node)
			}
			gauge(c.skewed, boolValue(n.ClockSkewed), n.Node)
			gauge(c.nodeQuarantined, float64(len(n.Quarantined)), n.Node)
			for _, tap := range n.Quarantined {
				if taps == maxQuarantinedSeries {
					break
				}
				taps++
				gauge(c.quarantinedTap, 1, n.Node, tap)
			}
			gauge(c.atRisk, float64(n.AtRiskCount), n.Node)
			gauge(c.epochs, float64(len(n.Epochs)), n.Node)
		}
	}

	streams, ing, err := c.h.cfg.Conn.StreamStates(ctx)
	gauge(c.streamsUp, boolValue(err == nil))
	if err == nil {
		for _, s := range streams {
			gauge(c.streamMsgs, float64(s.Msgs), s.Name)
			gauge(c.streamBytes, float64(s.Bytes), s.Name)
			gauge(c.streamFirst, float64(s.FirstSeq), s.Name)
			gauge(c.streamLast, float64(s.LastSeq), s.Name)
		}
		gauge(c.ingestPending, float64(ing.Pending))
		gauge(c.ingestUnacked, float64(ing.AckPending))
	}

	if rev, err := c.h.cfg.Ledger.LastRev(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.rev, err)
	} else {
		gauge(c.rev, float64(rev))
	}
	pub := c.h.pub.state()
	gauge(c.pubRev, float64(pub.rev))
	gauge(c.pubSeq, float64(pub.streamSeq))
	if !pub.beatAt.IsZero() {
		gauge(c.beatAge, now.Sub(pub.beatAt).Seconds())
	}
}

// status reads fleet status as `citypass fleet status` shows it.
func (c *collector) status(ctx context.Context, now time.Time) ([]fleet.NodeStatus, error) {
	enrolled, err := c.enrolled()
	if err != nil {
		return nil, err
	}
	return ReadStatus(ctx, c.h.cfg.Ledger, enrolled, now)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
