// The Stowage console: a small single-page app over the public REST API. Every call carries
// the key the user signed in with; the console has no privileges of its own.
"use strict";
const App = (function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const main = $("#main");
  let token = sessionStorage.getItem("stowage.token") || "";
  let info = { s3_path: "/s3", region: "", render_enabled: true };

  // h builds an element: h("button", {class: "x", onclick: f}, "text", child...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : String(kid));
    return el;
  }
  function say(msg, bad) { const s = $("#status"); s.textContent = msg || ""; s.className = bad ? "err" : ""; }
  function fail(e) { say(e.message || String(e), true); }
  function size(n) {
    if (n === null || n === undefined || n === "") return "";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; n = Number(n);
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function enc(key) { return key.split("/").map(encodeURIComponent).join("/"); }
  function claims(t) {
    try { return JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { return {}; }
  }

  // api calls the REST API with the signed-in key; JSON in, JSON out, errors thrown with the
  // server's message.
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!r.ok) throw new Error((data && (data.message || data.error)) || (r.status + " " + r.statusText));
    return data;
  }

  function signIn() {
    main.replaceChildren();
    $("#nav").hidden = true;
    const input = h("input", { type: "password", id: "key", autocomplete: "off", size: 60, "aria-describedby": "key-help", required: true });
    const form = h("form", { class: "card", onsubmit: async function (e) {
      e.preventDefault();
      token = input.value.trim();
      try {
        await api("GET", "/bucket");
        sessionStorage.setItem("stowage.token", token);
        say("Signed in as " + (claims(token).role || "?"));
        start();
      } catch (err) { token = ""; fail(new Error("Sign-in failed: " + err.message)); }
    } },
      h("h1", {}, "Sign in"),
      h("p", { id: "key-help", class: "muted" }, "Paste the service key (full access) or a user's JWT (the console then shows what row level security lets that user see). The key stays in this browser tab."),
      h("div", { class: "row" }, h("label", { for: "key" }, "Key"), input, h("button", { class: "primary", type: "submit", id: "signin" }, "Sign in")));
    main.append(form);
    input.focus();
  }

  function current(id) {
    for (const a of document.querySelectorAll("#nav a")) a.removeAttribute("aria-current");
    const el = $("#" + id); if (el) el.setAttribute("aria-current", "page");
  }

  // route draws the page the location names.
  async function route() {
    if (!token) return signIn();
    $("#nav").hidden = false;
    if (location.pathname.replace(/\/$/, "").endsWith("/console/report")) { current("nav-report"); return window.Report.show(main, { api: api, h: h, size: size, say: say }); }
    const hash = location.hash || "#/buckets";
    if (hash.startsWith("#/b/")) {
      const rest = hash.slice(4), i = rest.indexOf("/");
      const bucket = decodeURIComponent(i < 0 ? rest : rest.slice(0, i));
      const prefix = i < 0 ? "" : decodeURIComponent(rest.slice(i + 1));
      current("nav-buckets");
      return Objects.show(bucket, prefix);
    }
    if (hash === "#/s3") { current("nav-s3"); return s3Page(); }
    current("nav-buckets");
    return Buckets.show();
  }

  async function start() {
    try { info = await (await fetch("/console/api/info")).json(); } catch (e) { /* defaults */ }
    // A tenant of a multi-tenant server has no storage report (docs/console.md).
    $("#nav-report").hidden = !!info.tenant;
    route();
  }

  // confirmButton asks for a second press instead of a modal dialog (keyboard friendly,
  // and nothing blocks the page).
  function confirmButton(label, action, cls) {
    const b = h("button", { type: "button", class: cls || "danger" }, label);
    let armed = false;
    b.addEventListener("click", async function () {
      if (!armed) { armed = true; b.textContent = "Confirm " + label.toLowerCase() + "?"; return; }
      armed = false; b.textContent = label;
      try { await action(); } catch (e) { fail(e); }
    });
    b.addEventListener("blur", function () { armed = false; b.textContent = label; });
    return b;
  }

  const Buckets = {
    async show() {
      main.replaceChildren(h("h1", {}, "Buckets"), this.form(null));
      let list;
      try { list = await api("GET", "/bucket"); } catch (e) { return fail(e); }
      const tbody = h("tbody");
      for (const b of list) {
        tbody.append(h("tr", { "data-bucket": b.id },
          h("td", {}, h("a", { href: "#/b/" + encodeURIComponent(b.id) + "/" }, b.name)),
          h("td", {}, b.public ? "public" : "private"),
          h("td", { class: "num" }, b.file_size_limit ? size(b.file_size_limit) : "—"),
          h("td", {}, (b.allowed_mime_types || []).join(", ") || "any"),
          h("td", {}, (b.created_at || "").slice(0, 19).replace("T", " ")),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", onclick: () => { const f = this.form(b); main.insertBefore(f, main.children[1]); f.querySelector("input,select").focus(); } }, "Edit"),
            confirmButton("Empty", async () => { await api("POST", "/bucket/" + encodeURIComponent(b.id) + "/empty"); say("Emptied " + b.id); this.show(); }),
            confirmButton("Delete", async () => { await api("DELETE", "/bucket/" + encodeURIComponent(b.id)); say("Deleted bucket " + b.id); this.show(); })))));
      }
      main.append(h("table", { id: "buckets" },
        h("caption", { class: "muted" }, list.length + " bucket(s)"),
        h("thead", {}, h("tr", {}, ["Name", "Access", "Size limit", "MIME types", "Created", "Actions"].map(t => h("th", { scope: "col" }, t)))),
        tbody));
    },
    // form creates (b null) or edits a bucket.
    form(b) {
      const id = b ? "edit" : "new";
      const name = h("input", { type: "text", id: id + "-name", required: true, pattern: "[A-Za-z0-9_.\\- ]+", value: b ? b.id : "", disabled: !!b });
      const pub = h("input", { type: "checkbox", id: id + "-public" }); pub.checked = !!(b && b.public);
      const limit = h("input", { type: "text", id: id + "-limit", placeholder: "e.g. 50MB", size: 10, value: b && b.file_size_limit ? String(b.file_size_limit) : "" });
      const mimes = h("input", { type: "text", id: id + "-mimes", placeholder: "image/*, application/pdf", size: 30, value: b ? (b.allowed_mime_types || []).join(", ") : "" });
      const body = () => {
        const out = { public: pub.checked };
        const l = limit.value.trim(); out.file_size_limit = l === "" ? null : (/^\d+$/.test(l) ? Number(l) : l);
        const m = mimes.value.split(",").map(s => s.trim()).filter(Boolean); out.allowed_mime_types = m.length ? m : null;
        return out;
      };
      return h("form", { class: "card", id: id + "-bucket", onsubmit: async (e) => {
        e.preventDefault();
        try {
          if (b) { await api("PUT", "/bucket/" + encodeURIComponent(b.id), body()); say("Saved " + b.id); }
          else { const x = body(); x.name = name.value.trim(); await api("POST", "/bucket", x); say("Created bucket " + x.name); }
          this.show();
        } catch (err) { fail(err); }
      } },
        h("h2", {}, b ? "Edit bucket " + b.id : "New bucket"),
        h("div", { class: "row" },
          h("label", { for: id + "-name" }, "Name"), name,
          h("label", { for: id + "-public" }, "Public"), pub,
          h("label", { for: id + "-limit" }, "Size limit"), limit,
          h("label", { for: id + "-mimes" }, "Allowed MIME types"), mimes,
          h("button", { type: "submit", class: "primary", id: id + "-submit" }, b ? "Save" : "Create bucket"),
          b ? h("button", { type: "button", onclick: (e) => e.target.closest("form").remove() }, "Cancel") : null));
    },
  };

  const Objects = {
    async show(bucket, prefix) {
      this.bucket = bucket; this.prefix = prefix; this.cursor = null;
      let meta = null;
      try { meta = await api("GET", "/bucket/" + encodeURIComponent(bucket)); } catch (e) { /* RLS may hide it */ }
      this.isPublic = !!(meta && meta.public);
      const crumbs = h("nav", { "aria-label": "Folder", class: "row" }, h("a", { href: "#/buckets" }, "Buckets"), " / ",
        h("a", { href: "#/b/" + encodeURIComponent(bucket) + "/" }, bucket));
      let acc = "";
      for (const part of prefix.split("/").filter(Boolean)) {
        acc += part + "/";
        crumbs.append(" / ", h("a", { href: "#/b/" + encodeURIComponent(bucket) + "/" + encodeURIComponent(acc) }, part));
      }
      const search = h("input", { type: "search", id: "search", placeholder: "name starts with…", "aria-label": "Search by prefix" });
      search.addEventListener("input", () => { clearTimeout(this.t); this.t = setTimeout(() => this.list(true, search.value), 250); });
      this.tbody = h("tbody");
      this.more = h("button", { type: "button", id: "more", hidden: true, onclick: () => this.list(false, search.value) }, "Load more");
      main.replaceChildren(h("h1", {}, "Bucket " + bucket), crumbs, Upload.zone(bucket, prefix, () => this.list(true, search.value)),
        h("div", { class: "row" }, h("label", { for: "search" }, "Search"), search,
          h("button", { type: "button", onclick: () => this.newFolder() }, "New folder")),
        h("div", { id: "detail" }),
        h("table", { id: "objects" }, h("thead", {}, h("tr", {}, ["Name", "Size", "Type", "Updated", "Actions"].map(t => h("th", { scope: "col" }, t)))), this.tbody),
        this.more);
      this.list(true, "");
    },
    newFolder() {
      const input = h("input", { type: "text", id: "folder-name", "aria-label": "Folder name" });
      const d = $("#detail");
      d.replaceChildren(h("form", { class: "card row", onsubmit: (e) => {
        e.preventDefault(); const n = input.value.trim().replace(/^\/+|\/+$/g, "");
        if (n) location.hash = "#/b/" + encodeURIComponent(this.bucket) + "/" + encodeURIComponent(this.prefix + n + "/");
      } }, h("label", { for: "folder-name" }, "Folder"), input, h("button", { type: "submit" }, "Open"),
        h("span", { class: "muted" }, "(a folder exists once a file is uploaded into it)")));
      input.focus();
    },
    // list fetches a page with the list-v2 cursor (fresh: from the start).
    async list(fresh, search) {
      if (fresh) { this.cursor = null; this.tbody.replaceChildren(); }
      let page;
      try {
        page = await api("POST", "/object/list-v2/" + encodeURIComponent(this.bucket),
          { prefix: this.prefix + (search || ""), limit: 100, with_delimiter: true, cursor: this.cursor || undefined });
      } catch (e) { return fail(e); }
      for (const f of page.folders || []) {
        // list-v2 with the delimiter: name is the full path, key the part below the prefix.
        const full = f.name;
        const rel = full.slice(this.prefix.length);
        this.tbody.append(h("tr", { class: "folder" },
          h("td", {}, h("a", { href: "#/b/" + encodeURIComponent(this.bucket) + "/" + encodeURIComponent(full.endsWith("/") ? full : full + "/") }, "📁 " + rel)),
          h("td", {}), h("td", {}, "folder"), h("td", {}),
          h("td", {}, confirmButton("Delete", async () => { await this.removePrefix(full.endsWith("/") ? full : full + "/"); }))));
      }
      for (const o of page.objects || []) this.tbody.append(this.row(o));
      this.cursor = page.hasNext ? page.nextCursor : null;
      this.more.hidden = !page.hasNext;
    },
    async removePrefix(p) {
      let n = 0;
      for (;;) {
        const page = await api("POST", "/object/list-v2/" + encodeURIComponent(this.bucket), { prefix: p, limit: 1000 });
        const keys = (page.objects || []).map(o => o.name);
        if (!keys.length) break;
        await api("DELETE", "/object/" + encodeURIComponent(this.bucket), { prefixes: keys });
        n += keys.length;
        if (!page.hasNext) break;
      }
      say("Deleted " + n + " object(s) under " + p); this.list(true, "");
    },
    row(o) {
      const key = o.name;
      const m = o.metadata || {};
      const b = this.bucket;
      const actions = h("div", { class: "row" },
        h("button", { type: "button", onclick: () => this.details(key, m) }, "Details"),
        h("button", { type: "button", onclick: () => this.download(key) }, "Download"),
        h("button", { type: "button", onclick: () => this.share(key) }, "Copy URL"),
        h("button", { type: "button", onclick: () => this.move(key) }, "Move"),
        confirmButton("Delete", async () => { await api("DELETE", "/object/" + encodeURIComponent(b) + "/" + enc(key)); say("Deleted " + key); this.list(true, ""); }));
      return h("tr", { "data-key": key },
        h("td", {}, key.slice(this.prefix.length)),
        h("td", { class: "num" }, size(m.size)),
        h("td", {}, m.mimetype || ""),
        h("td", {}, (o.updated_at || "").slice(0, 19).replace("T", " ")),
        h("td", {}, actions));
    },
    async details(key, m) {
      const d = $("#detail");
      const table = h("table", { id: "meta" }, h("tbody", {}, Object.keys(m).map(k => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, typeof m[k] === "object" ? JSON.stringify(m[k]) : String(m[k]))))));
      const card = h("section", { class: "card", "aria-label": "Object details" }, h("h2", {}, key), table);
      d.replaceChildren(card);
      try {
        const inf = await api("GET", "/object/info/authenticated/" + encodeURIComponent(this.bucket) + "/" + enc(key));
        card.append(h("details", {}, h("summary", {}, "Object info (GET /object/info)"), h("pre", {}, JSON.stringify(inf, null, 2))));
      } catch (e) { /* metadata above is enough */ }
      try {
        const r = await fetch("/object/authenticated/" + encodeURIComponent(this.bucket) + "/" + enc(key), { method: "HEAD", headers: { Authorization: "Bearer " + token } });
        const rows = [];
        r.headers.forEach((v, k) => rows.push(h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))));
        card.append(h("details", { id: "headers" }, h("summary", {}, "Response headers (HEAD)"), h("table", {}, h("tbody", {}, rows))));
      } catch (e) { /* headers are extra */ }
      if ((m.mimetype || "").startsWith("image/")) {
        const img = h("img", { id: "preview", alt: "Preview of " + key });
        card.append(h("div", { class: "preview" }, h("h3", {}, "Preview (300 px wide)"), img));
        const path = info.render_enabled ? "/render/image/authenticated/" + encodeURIComponent(this.bucket) + "/" + enc(key) + "?width=300&resize=contain"
          : "/object/authenticated/" + encodeURIComponent(this.bucket) + "/" + enc(key);
        try {
          const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
          if (!r.ok) throw new Error("preview: " + r.status);
          img.src = URL.createObjectURL(await r.blob());
          img.onload = () => { img.dataset.width = img.naturalWidth; img.dataset.height = img.naturalHeight; };
        } catch (e) { fail(e); }
      }
      card.querySelector("h2").setAttribute("tabindex", "-1"); card.querySelector("h2").focus();
    },
    async sign(key, seconds, download) {
      const r = await api("POST", "/object/sign/" + encodeURIComponent(this.bucket) + "/" + enc(key), { expiresIn: seconds });
      return new URL(r.signedURL + (download ? "&download=" : ""), location.origin).href;
    },
    async download(key) {
      // A short signed URL lets the browser stream the file to disk (no copy in memory).
      try {
        const a = h("a", { href: await this.sign(key, 60, true), download: key.split("/").pop() });
        document.body.append(a); a.click(); a.remove();
      } catch (e) { fail(e); }
    },
    share(key) {
      const d = $("#detail");
      const expiry = h("select", { id: "expiry" }, [["60", "1 minute"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "1 week"]].map(([v, t]) => h("option", { value: v }, t)));
      expiry.value = "3600";
      const out = h("input", { type: "text", id: "share-url", readonly: true, size: 80, "aria-label": "URL" });
      const copy = async (url) => {
        out.value = url; out.focus(); out.select();
        try { await navigator.clipboard.writeText(url); say("URL copied to the clipboard"); } catch (e) { say("URL selected: press Ctrl+C to copy"); }
      };
      d.replaceChildren(h("section", { class: "card", "aria-label": "Share" }, h("h2", {}, "URL of " + key),
        h("div", { class: "row" }, h("label", { for: "expiry" }, "Expires in"), expiry,
          h("button", { type: "button", id: "copy-signed", class: "primary", onclick: async () => { try { await copy(await this.sign(key, Number(expiry.value))); } catch (e) { fail(e); } } }, "Copy signed URL"),
          this.isPublic ? h("button", { type: "button", id: "copy-public", onclick: () => copy(new URL("/object/public/" + encodeURIComponent(this.bucket) + "/" + enc(key), location.origin).href) }, "Copy public URL") : h("span", { class: "muted" }, "(private bucket: no public URL)")),
        h("div", { class: "row" }, out)));
      expiry.focus();
    },
    move(key) {
      const d = $("#detail");
      const to = h("input", { type: "text", id: "move-to", size: 60, value: key });
      const copyBox = h("input", { type: "checkbox", id: "move-copy" });
      d.replaceChildren(h("form", { class: "card", onsubmit: async (e) => {
        e.preventDefault();
        const dest = to.value.trim();
        if (!dest || dest === key) return;
        try {
          await api("POST", copyBox.checked ? "/object/copy" : "/object/move", { bucketId: this.bucket, sourceKey: key, destinationKey: dest });
          say((copyBox.checked ? "Copied " : "Moved ") + key + " to " + dest); d.replaceChildren(); this.list(true, "");
        } catch (err) { fail(err); }
      } }, h("h2", {}, "Move or rename " + key),
        h("div", { class: "row" }, h("label", { for: "move-to" }, "New name"), to, h("label", { for: "move-copy" }, "Keep the original (copy)"), copyBox,
          h("button", { type: "submit", class: "primary", id: "move-submit" }, "Move"))));
      to.focus();
    },
  };

  const Upload = {
    zone(bucket, prefix, done) {
      const input = h("input", { type: "file", id: "files", multiple: true, hidden: true });
      const list = h("ul", { class: "uploads", id: "uploads", "aria-label": "Uploads" });
      const zone = h("div", { class: "drop", id: "dropzone" },
        "Drop files here or ", h("button", { type: "button", id: "pick", onclick: () => input.click() }, "choose files"),
        " — they go to ", h("code", {}, bucket + "/" + prefix), ". ",
        h("label", { for: "upsert" }, "Replace existing"), h("input", { type: "checkbox", id: "upsert" }));
      const go = (files) => { for (const f of files) this.one(f, bucket, prefix + f.name, list, done); };
      input.addEventListener("change", () => { go(Array.from(input.files)); input.value = ""; });
      zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); go(Array.from(e.dataTransfer.files)); });
      // Uploads a reload interrupted: picking the same file again resumes them.
      for (const p of StowageTUS.pending()) {
        if (p.bucket !== bucket) continue;
        list.append(h("li", { class: "pending", "data-key": p.key }, "Interrupted: " + p.key + " (" + size(p.size) + ") — choose the same file again to resume ",
          h("button", { type: "button", class: "link", onclick: (e) => { StowageTUS.forget(p.fp); e.target.closest("li").remove(); } }, "forget")));
      }
      return h("section", { "aria-label": "Upload" }, zone, input, list);
    },
    one(file, bucket, key, list, done) {
      for (const li of list.querySelectorAll("li.pending")) if (li.dataset.key === key) li.remove();
      const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": "Upload of " + key });
      const text = h("span", { class: "pct" }, "0%");
      const note = h("span", { class: "muted" });
      const li = h("li", { "data-key": key, "data-state": "running" }, key + " ", bar, " ", text, " ", note);
      const up = new StowageTUS.Upload(file, bucket, key, { endpoint: "/upload/resumable", token: token, upsert: $("#upsert") && $("#upsert").checked,
        onResume: (off) => { li.dataset.resumedAt = off; note.textContent = "resumed at " + size(off); },
        onProgress: (sent, total) => { bar.value = sent; li.dataset.sent = sent; text.textContent = (total ? Math.floor(100 * sent / total) : 100) + "%"; } });
      const cancel = h("button", { type: "button", class: "link", onclick: () => up.abort() }, "cancel");
      li.append(" ", cancel);
      list.append(li);
      up.start().then(() => { li.dataset.state = "done"; cancel.remove(); note.textContent = "stored"; say("Uploaded " + key); done(); },
        (e) => { li.dataset.state = "failed"; note.textContent = e.message; note.className = "err"; });
    },
  };

  function s3Page() {
    if (info.s3_path === "") {
      main.replaceChildren(h("h1", {}, "S3 access"), h("p", { id: "s3-off" }, "The S3 protocol is not enabled for tenant " + info.tenant +
        " (its s3Protocol feature, set through the admin API)."));
      return;
    }
    const origin = location.origin;
    const endpoint = origin + (info.s3_path || "/s3");
    const region = info.region || "not-specified";
    // A tenant has no server-wide key: its credentials are created through the admin API.
    const key = info.access_key_id || (info.tenant ? "<access key of POST /s3/" + info.tenant + "/credentials>" : "<S3_PROTOCOL_ACCESS_KEY_ID>");
    const secret = info.tenant ? "The secret_key answered once by the admin API's POST /s3/" + info.tenant + "/credentials (ADMIN_PORT), which also created the access key id; the console never shows it"
      : "S3_PROTOCOL_ACCESS_KEY_SECRET (printed at start in development mode; the console never shows it)";
    const host = location.hostname + ":" + (info.s3_port || location.port);
    const block = (title, text) => h("section", { class: "card" }, h("h2", {}, title), h("pre", { tabindex: "0" }, text));
    main.replaceChildren(h("h1", {}, "S3 access"),
      h("table", { id: "s3-info" }, h("tbody", {},
        h("tr", {}, h("th", { scope: "row" }, "Endpoint (path-style)"), h("td", {}, h("code", {}, endpoint))),
        info.s3_port ? h("tr", {}, h("th", { scope: "row" }, "Dedicated S3 listener"), h("td", {}, h("code", {}, location.protocol + "//" + host))) : null,
        h("tr", {}, h("th", { scope: "row" }, "Region"), h("td", {}, h("code", {}, region))),
        h("tr", {}, h("th", { scope: "row" }, "Access key id"), h("td", {}, h("code", {}, key))),
        info.tenant ? h("tr", {}, h("th", { scope: "row" }, "Tenant"), h("td", {}, h("code", {}, info.tenant))) : null,
        h("tr", {}, h("th", { scope: "row" }, "Secret"), h("td", {}, secret)))),
      block("aws cli", "export AWS_ACCESS_KEY_ID=" + key + "\nexport AWS_SECRET_ACCESS_KEY=<secret>\nexport AWS_DEFAULT_REGION=" + region +
        "\naws --endpoint-url " + endpoint + " s3 ls\naws --endpoint-url " + endpoint + " s3 cp ./file.bin s3://my-bucket/file.bin"),
      block("rclone (~/.config/rclone/rclone.conf)", "[stowage]\ntype = s3\nprovider = Other\nendpoint = " + endpoint + "\nregion = " + region +
        "\naccess_key_id = " + key + "\nsecret_access_key = <secret>\nforce_path_style = true\n\n# then: rclone ls stowage:my-bucket"),
      block("s3cmd (~/.s3cfg)" + (info.s3_port ? "" : " — needs S3_PORT: s3cmd wants S3 at the root of a host"),
        "[default]\naccess_key = " + key + "\nsecret_key = <secret>\nhost_base = " + host + "\nhost_bucket = " + host +
        "\nbucket_location = " + region + "\nuse_https = " + (location.protocol === "https:" ? "True" : "False") + "\n\n# then: s3cmd ls s3://my-bucket"));
  }

  $("#signout").addEventListener("click", () => { token = ""; sessionStorage.removeItem("stowage.token"); say("Signed out"); location.hash = ""; signIn(); });
  window.addEventListener("hashchange", route);
  start();
  return { api: api };
})();
