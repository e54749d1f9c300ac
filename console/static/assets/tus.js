// A small TUS 1.0.0 client for the console (creation + core protocol, as the server's
// /upload/resumable speaks it). Uploads are remembered in localStorage by a fingerprint of
// the file, so after a page reload picking the same file again resumes at the server's offset.
"use strict";
(function () {
  const STORE = "stowage.tus.";
  const CHUNK = 6 * 1024 * 1024; // what Supabase recommends for its TUS endpoint

  function b64(s) { return btoa(unescape(encodeURIComponent(s))); }
  function fingerprint(bucket, key, file) {
    return STORE + [bucket, key, file.name, file.size, file.lastModified].join("|");
  }

  // xhr runs one request; onProgress gets the bytes of body sent so far.
  function xhr(method, url, headers, body, onProgress, onStart) {
    return new Promise(function (resolve, reject) {
      const r = new XMLHttpRequest();
      r.open(method, url);
      for (const k in headers) r.setRequestHeader(k, headers[k]);
      if (onProgress) r.upload.onprogress = function (e) { onProgress(e.loaded); };
      r.onload = function () { resolve(r); };
      r.onerror = function () { reject(new Error("network error")); };
      r.onabort = function () { reject(new Error("aborted")); };
      if (onStart) onStart(r);
      r.send(body === undefined ? null : body);
    });
  }

  function failure(r, what) {
    let msg = r.status + " " + what;
    try { const j = JSON.parse(r.responseText); msg = (j.message || j.error || msg) + " (" + r.status + ")"; } catch (e) { if (r.responseText) msg += ": " + r.responseText.slice(0, 200); }
    return new Error(msg);
  }

  // Upload sends file to bucket/key. opts: endpoint, token, upsert, onProgress(sent,total),
  // onResume(offset). start() resolves when the object is stored; abort() stops it.
  function Upload(file, bucket, key, opts) {
    this.file = file; this.bucket = bucket; this.key = key; this.opts = opts;
    this.fp = fingerprint(bucket, key, file); this.req = null; this.stopped = false;
  }
  Upload.prototype.headers = function (extra) {
    const h = { "Tus-Resumable": "1.0.0", "Authorization": "Bearer " + this.opts.token };
    for (const k in extra) h[k] = extra[k];
    return h;
  };
  Upload.prototype.abort = function () { this.stopped = true; if (this.req) this.req.abort(); };
  Upload.prototype.create = async function () {
    const f = this.file;
    const meta = "bucketName " + b64(this.bucket) + ",objectName " + b64(this.key) +
      ",contentType " + b64(f.type || "application/octet-stream") + ",cacheControl " + b64("3600");
    const extra = { "Upload-Length": String(f.size), "Upload-Metadata": meta };
    if (this.opts.upsert) extra["x-upsert"] = "true";
    const r = await xhr("POST", this.opts.endpoint, this.headers(extra));
    if (r.status !== 201) throw failure(r, "creating the upload");
    const url = new URL(r.getResponseHeader("Location"), location.href).href;
    localStorage.setItem(this.fp, JSON.stringify({ url: url, bucket: this.bucket, key: this.key, name: f.name, size: f.size, at: Date.now() }));
    return url;
  };
  // offset asks the server where a remembered upload stands; -1 when it is gone.
  Upload.prototype.offset = async function (url) {
    const r = await xhr("HEAD", url, this.headers({}));
    if (r.status !== 200 && r.status !== 204) return -1;
    const n = parseInt(r.getResponseHeader("Upload-Offset"), 10);
    return isNaN(n) ? -1 : n;
  };
  Upload.prototype.start = async function () {
    const f = this.file, self = this;
    let url = null, offset = 0;
    const saved = localStorage.getItem(this.fp);
    if (saved) {
      try { url = JSON.parse(saved).url; } catch (e) { url = null; }
      if (url) {
        offset = await this.offset(url);
        if (offset < 0) { url = null; offset = 0; localStorage.removeItem(this.fp); }
        else if (this.opts.onResume) this.opts.onResume(offset);
      }
    }
    if (!url) url = await this.create();
    if (this.opts.onProgress) this.opts.onProgress(offset, f.size);
    while (offset < f.size || (f.size === 0 && offset === 0 && !this.sentEmpty)) {
      if (this.stopped) throw new Error("aborted");
      this.sentEmpty = true;
      const end = Math.min(offset + CHUNK, f.size);
      const base = offset;
      const r = await xhr("PATCH", url, this.headers({ "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" }),
        f.slice(offset, end), function (sent) { if (self.opts.onProgress) self.opts.onProgress(base + sent, f.size); },
        function (req) { self.req = req; });
      if (r.status !== 204) {
        if (r.status === 409) { // the server has another offset: ask it and go on from there
          offset = await this.offset(url);
          if (offset >= 0) continue;
        }
        throw failure(r, "sending bytes");
      }
      offset = parseInt(r.getResponseHeader("Upload-Offset"), 10);
      if (isNaN(offset)) throw new Error("no Upload-Offset in the answer");
      if (this.opts.onProgress) this.opts.onProgress(offset, f.size);
      if (f.size === 0) break;
    }
    localStorage.removeItem(this.fp);
    return url;
  };

  // pending lists the uploads remembered in this browser that did not finish.
  function pending() {
    const out = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && k.indexOf(STORE) === 0) {
        try { const v = JSON.parse(localStorage.getItem(k)); v.fp = k; out.push(v); } catch (e) { /* ignore */ }
      }
    }
    return out;
  }
  function forget(fp) { localStorage.removeItem(fp); }

  window.StowageTUS = { Upload: Upload, pending: pending, forget: forget, CHUNK: CHUNK };
})();
