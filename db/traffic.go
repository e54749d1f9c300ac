package db

import (
	"context"
	"time"
)

// TrafficRow is one per-minute figure of the storage report (stowage.traffic_minutes).
type TrafficRow struct {
	Minute   time.Time
	Gateway  string
	Dim      string
	Label    string
	Requests int64
	BytesIn  int64
	BytesOut int64
	Latency  []int64
}

// SaveTraffic adds rows to what is stored for their minute, gateway, dim and label (a
// gateway writes each minute once; a repeated write adds, latency histograms element-wise).
func (d *DB) SaveTraffic(ctx context.Context, rows []TrafficRow) error {
	const q = `insert into stowage.traffic_minutes as t (minute, gateway, dim, label, requests, bytes_in, bytes_out, latency)
		values ($1, $2, $3, $4, $5, $6, $7, $8)
		on conflict (minute, gateway, dim, label) do update set
		  requests = t.requests + excluded.requests, bytes_in = t.bytes_in + excluded.bytes_in,
		  bytes_out = t.bytes_out + excluded.bytes_out,
		  latency = case when t.latency is null then excluded.latency else
		    (select array_agg(coalesce(a, 0) + coalesce(b, 0) order by i)
		     from unnest(t.latency, excluded.latency) with ordinality as u(a, b, i)) end`
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return Classify(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, r := range rows {
		var lat []int64
		if r.Latency != nil {
			lat = r.Latency
		}
		if _, err := tx.Exec(ctx, q, r.Minute, r.Gateway, r.Dim, r.Label, r.Requests, r.BytesIn, r.BytesOut, lat); err != nil {
			return Classify(err)
		}
	}
	return Classify(tx.Commit(ctx))
}

// TrafficSeries returns the 'total', 'dialect' and 'render' rows since the time, per gateway.
func (d *DB) TrafficSeries(ctx context.Context, since time.Time) ([]TrafficRow, error) {
	const q = `select minute, gateway, dim, label, requests, bytes_in, bytes_out, coalesce(latency, '{}')
		from stowage.traffic_minutes where minute >= $1 and dim in ('total', 'dialect', 'render')
		order by minute`
	return d.trafficRows(ctx, q, since)
}

// TrafficTops returns, for each top-list dim ('bucket', 'route', 'object'), the n labels
// with the most bytes out (then requests) since the time, summed over gateways and minutes.
func (d *DB) TrafficTops(ctx context.Context, since time.Time, n int) ([]TrafficRow, error) {
	const q = `select 'epoch'::timestamptz, '', dim, label, requests, bytes_in, bytes_out, '{}'::bigint[] from (
		  select dim, label, sum(requests)::bigint as requests, sum(bytes_in)::bigint as bytes_in, sum(bytes_out)::bigint as bytes_out,
		    row_number() over (partition by dim order by
		      case dim when 'route' then sum(requests) when 'bucket' then sum(bytes_in) + sum(bytes_out) else sum(bytes_out) end desc, label) as rank
		  from stowage.traffic_minutes where minute >= $1 and dim in ('bucket', 'route', 'object')
		  group by dim, label) ranked
		where rank <= $2`
	return d.trafficRows(ctx, q, since, n)
}

func (d *DB) trafficRows(ctx context.Context, q string, args ...any) ([]TrafficRow, error) {
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []TrafficRow
	for rows.Next() {
		var r TrafficRow
		if err := rows.Scan(&r.Minute, &r.Gateway, &r.Dim, &r.Label, &r.Requests, &r.BytesIn, &r.BytesOut, &r.Latency); err != nil {
			return nil, Classify(err)
		}
		out = append(out, r)
	}
	return out, Classify(rows.Err())
}

// PruneTraffic deletes the rows older than the time (the report's bounded retention).
func (d *DB) PruneTraffic(ctx context.Context, before time.Time) error {
	_, err := d.pool.Exec(ctx, `delete from stowage.traffic_minutes where minute < $1`, before)
	return Classify(err)
}
