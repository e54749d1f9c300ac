-- Per-minute traffic figures of every gateway sharing this database, for the fleet-wide
-- storage report (/console/report). Each gateway writes its finished minutes once a minute;
-- rows older than the retention (48 h) are deleted by the gateways themselves. dim is
-- 'total' (requests, bytes, latency histogram), 'dialect' (label 'rest 2xx'), 'render'
-- (hit, miss, 304) or a top list ('bucket', 'route', 'object': at most 64 labels per
-- gateway and minute). Only the server's own connection and the service role touch it.
create table if not exists stowage.traffic_minutes (
  minute timestamptz not null,
  gateway text not null,
  dim text not null,
  label text not null,
  requests bigint not null default 0,
  bytes_in bigint not null default 0,
  bytes_out bigint not null default 0,
  latency bigint[],
  primary key (minute, gateway, dim, label)
);

do $$
begin
  execute format('grant all on stowage.traffic_minutes to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
