package traffic

import (
	"context"
	"log/slog"
	"time"
)

// Retention is how long the fleet's per-minute rows are kept: the report's longest window
// and a day of slack.
const Retention = 48 * time.Hour

// Run writes the finished minutes to store every interval and prunes rows past Retention,
// until ctx ends. A failed write is logged and its rows dropped: the report is a view, and
// holding rows for an unreachable database would grow without bound.
func (r *Recorder) Run(ctx context.Context, store Store, gateway string, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Flush(ctx, store, gateway); err != nil {
			log.Warn("traffic report: write per-minute rows", "err", err)
		}
	}
}

// Flush writes the finished minutes not yet written and prunes old rows.
func (r *Recorder) Flush(ctx context.Context, store Store, gateway string) error {
	if rows := r.Take(gateway); len(rows) > 0 {
		if err := store.SaveTraffic(ctx, rows); err != nil {
			return err
		}
	}
	return store.PruneTraffic(ctx, r.now().Add(-Retention))
}

// Fleet builds the fleet-wide report of window from store.
func Fleet(ctx context.Context, store Store, window string, now time.Time) (Report, error) {
	w := Windows[window]
	since := now.Add(-w.Span)
	series, err := store.TrafficSeries(ctx, since)
	if err != nil {
		return Report{}, err
	}
	tops, err := store.TrafficTops(ctx, since, TopN)
	if err != nil {
		return Report{}, err
	}
	return Build(append(series, tops...), "fleet", window, now), nil
}

// Local builds this gateway's report of window from memory.
func (r *Recorder) Local(window string) Report {
	return Build(r.Rows(Windows[window].Span), "gateway", window, r.now())
}
