package events_test

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type prometheusMetric struct {
	name  string
	value float64
}

// collect reads c's counters and gauges.
func collect(c prometheus.Collector, out chan<- prometheusMetric) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		name := ""
		if desc := m.Desc().String(); true {
			// Desc{fqName: "name", ...}
			if i := len(`Desc{fqName: "`); len(desc) > i {
				rest := desc[i:]
				for j := 0; j < len(rest); j++ {
					if rest[j] == '"' {
						name = rest[:j]
						break
					}
				}
			}
		}
		switch {
		case d.Counter != nil:
			out <- prometheusMetric{name, d.Counter.GetValue()}
		case d.Gauge != nil:
			out <- prometheusMetric{name, d.Gauge.GetValue()}
		}
	}
}
