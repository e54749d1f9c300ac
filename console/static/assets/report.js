// The storage report page (/console/report): this gateway's figures from memory, or the
// fleet's from the per-minute rows every gateway writes to Postgres.
"use strict";
window.Report = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = { "2xx": "#1f8a4c", "3xx": "#2b6cb0", "4xx": "#d97706", "5xx": "#b42318", "1xx": "#777",
    p50: "#1f8a4c", p95: "#d97706", p99: "#b42318", in: "#2b6cb0", out: "#1f8a4c", hit: "#1f8a4c", miss: "#d97706", "304": "#2b6cb0" };
  let timer = null;

  function svg(tag, attrs) { const el = document.createElementNS(NS, tag); for (const k in attrs) el.setAttribute(k, attrs[k]); return el; }

  // chart draws one line per series over the report's steps.
  function chart(h, title, points, series, fmt) {
    const W = 600, H = 120, n = points.length;
    let max = 0;
    for (const s of series) for (const p of points) max = Math.max(max, s.get(p));
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", preserveAspectRatio: "none", role: "img", "aria-label": title + ", peak " + fmt(max) });
    for (const s of series) {
      const pts = points.map((p, i) => (i * W / Math.max(n - 1, 1)).toFixed(1) + "," + (H - 4 - (max ? s.get(p) / max : 0) * (H - 10)).toFixed(1));
      root.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[s.name] || "#333", "stroke-width": 1.5 }));
    }
    const legend = h("div", { class: "legend" }, series.map(s => {
      const i = h("i", {}); i.style.background = COLORS[s.name] || "#333";
      return h("span", {}, i, s.label || s.name);
    }), h("span", { class: "muted" }, "peak " + fmt(max)));
    return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), root, legend);
  }

  function topTable(h, size, id, title, rows, cols) {
    return h("section", { class: "card" }, h("h2", {}, title), rows.length ? h("table", { id: id },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), cols.map(c => h("th", { scope: "col", class: "num" }, c[0])))),
      h("tbody", {}, rows.map(r => h("tr", {}, h("td", {}, r.name), cols.map(c => h("td", { class: "num" }, c[1](r))))))) : h("p", { class: "muted" }, "Nothing yet."));
  }

  function ms(s) { return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms"; }

  async function show(main, ctx) {
    const { api, h, size, say } = ctx;
    const params = new URLSearchParams(location.search);
    const windowName = params.get("window") || "hour", scope = params.get("scope") || "gateway";
    const pick = (name, value, label) => h("a", { href: "?" + new URLSearchParams(Object.assign({ window: windowName, scope: scope }, { [name]: value })),
      "aria-current": (name === "window" ? windowName : scope) === value ? "true" : null }, label);
    const body = h("div", { id: "report-body" }, h("p", {}, "Loading…"));
    main.replaceChildren(h("h1", {}, "Storage report"),
      h("div", { class: "row" }, "Window:", pick("window", "hour", "last hour"), pick("window", "day", "last day"),
        " Scope:", pick("scope", "gateway", "this gateway (memory)"), pick("scope", "fleet", "fleet (Postgres, per minute)"),
        h("button", { type: "button", id: "refresh", onclick: () => load() }, "Refresh")),
      body);
    async function load() {
      let rep;
      try { rep = await api("GET", "/console/api/report?window=" + windowName + "&scope=" + scope); } catch (e) {
        body.replaceChildren(h("p", { class: "err" }, e.message)); return;
      }
      const t = rep.totals;
      const stat = (id, label, value) => h("div", { class: "stat", id: id }, h("span", { class: "muted" }, label), h("b", {}, value));
      const classes = {};
      for (const k in t.by_class || {}) { const [d, c] = k.split(" "); classes[d] = classes[d] || {}; classes[d][c] = t.by_class[k]; }
      const classNames = ["2xx", "3xx", "4xx", "5xx"];
      const byClass = (p, c) => { let n = 0; for (const k in p.by_class || {}) if (k.endsWith(" " + c)) n += p.by_class[k]; return n / rep.step_seconds; };
      body.replaceChildren(
        h("p", { class: "muted" }, (rep.scope === "fleet" ? "All gateways sharing the database (" + (rep.gateways || 0) + " reporting; finished minutes only)" : "This gateway, from memory") +
          ", " + new Date(rep.from * 1000).toLocaleString() + " – " + new Date(rep.to * 1000).toLocaleString()),
        h("div", { class: "grid" },
          stat("stat-requests", "Requests", String(t.requests)),
          stat("stat-rps", "Requests/s (avg)", t.per_second.toFixed(3)),
          stat("stat-p50", "p50", ms(t.p50_seconds)), stat("stat-p95", "p95", ms(t.p95_seconds)), stat("stat-p99", "p99", ms(t.p99_seconds)),
          stat("stat-ingress", "Ingress", size(t.bytes_in)), stat("stat-egress", "Egress", size(t.bytes_out)),
          stat("stat-render", "Render cache hits / misses", t.render_hits + " / " + t.render_misses),
          stat("stat-304", "304 Not Modified", String(t.not_modified))),
        h("section", { class: "card" }, h("h2", {}, "Requests by dialect and status class"), h("table", { id: "by-dialect" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Dialect"), ["1xx"].concat(classNames).map(c => h("th", { scope: "col", class: "num" }, c)))),
          h("tbody", {}, Object.keys(classes).sort().map(d => h("tr", {}, h("th", { scope: "row" }, d), ["1xx"].concat(classNames).map(c => h("td", { class: "num" }, String(classes[d][c] || 0)))))))),
        chart(h, "Requests per second by status class", rep.series, classNames.map(c => ({ name: c, get: p => byClass(p, c) })), v => v.toFixed(2) + "/s"),
        chart(h, "Response time", rep.series, ["p50", "p95", "p99"].map(q => ({ name: q, get: p => p[q + "_seconds"] })), ms),
        chart(h, "Ingress and egress bytes", rep.series, [{ name: "in", label: "ingress", get: p => p.bytes_in }, { name: "out", label: "egress", get: p => p.bytes_out }], size),
        chart(h, "Render cache and 304s", rep.series, [{ name: "hit", label: "cache hits", get: p => p.render_hits }, { name: "miss", label: "misses", get: p => p.render_misses },
          { name: "304", label: "304 Not Modified", get: p => p.not_modified }], v => String(v)),
        topTable(h, size, "top-buckets", "Buckets by traffic", rep.buckets, [["Requests", r => r.requests], ["Ingress", r => size(r.bytes_in)], ["Egress", r => size(r.bytes_out)]]),
        topTable(h, size, "top-routes", "Top routes", rep.routes, [["Requests", r => r.requests], ["Egress", r => size(r.bytes_out)]]),
        topTable(h, size, "top-objects", "Top objects by egress", rep.objects, [["Downloads", r => r.requests], ["Egress", r => size(r.bytes_out)]]));
      say("Report updated " + new Date().toLocaleTimeString());
    }
    clearInterval(timer);
    timer = setInterval(() => { if (document.visibilityState === "visible" && document.getElementById("report-body")) load(); }, 30000);
    await load();
  }
  return { show: show };
})();
