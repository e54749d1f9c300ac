package events

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's Prometheus metrics, labelled by target name only.
type Metrics struct {
	unrouted  prometheus.Gauge
	pending   *prometheus.GaugeVec
	deadNow   *prometheus.GaugeVec
	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	dead      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	attempt   *prometheus.HistogramVec
}

// NewMetrics returns metrics dispatchers may share (Options.Metrics).
func NewMetrics() *Metrics {
	target := []string{"target"}
	return &Metrics{
		unrouted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stowage_events_unrouted",
			Help: "Events in the outbox not yet routed to their targets."}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_events_pending",
			Help: "Deliveries waiting (or under way) per target."}, target),
		deadNow: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stowage_events_dead",
			Help: "Dead-lettered deliveries per target, until re-driven."}, target),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_events_delivered_total",
			Help: "Deliveries acknowledged by their target."}, target),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_events_failed_total",
			Help: "Delivery attempts that failed."}, target),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_events_retried_total",
			Help: "Failed attempts scheduled for a retry."}, target),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_events_dead_lettered_total",
			Help: "Deliveries given up (dead-lettered) after their attempts or age ran out."}, target),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stowage_events_delivery_latency_seconds",
			Help:    "Time from an event's commit to its acknowledged delivery.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}, target),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stowage_events_attempt_duration_seconds",
			Help: "Time one delivery attempt took.", Buckets: prometheus.DefBuckets}, target),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.unrouted, m.pending, m.deadNow, m.delivered, m.failed, m.retried, m.dead, m.latency, m.attempt}
}

// Totals returns the counters and histograms only: the metrics that add up over
// dispatchers sharing them. The gauges (unrouted, pending, dead) describe one outbox, so
// with one dispatcher per tenant they would show whichever tenant refreshed them last.
func (m *Metrics) Totals() []prometheus.Collector {
	return []prometheus.Collector{m.delivered, m.failed, m.retried, m.dead, m.latency, m.attempt}
}
