// jawas client: polls pseudo-static snapshots once per period and hands the
// newest one to a render callback on requestAnimationFrame, with helpers to
// interpolate between snapshots so 5 Hz data animates at 60 fps.
//
// Plain ES module, no build step. Everything it touches in the host (fetch,
// clocks, timers, rAF, document, random) can be injected through `opts`, so
// the scheduling is testable with fake time (see client.test.mjs).

const G = globalThis;

// env merges injected host functions over the real ones.
function env(o) {
  return {
    fetch: (u, i) => G.fetch(u, i),
    now: () => Date.now(),
    setTimeout: (f, ms) => G.setTimeout(f, ms),
    clearTimeout: (id) => G.clearTimeout(id),
    requestAnimationFrame: G.requestAnimationFrame
      ? (f) => G.requestAnimationFrame(f)
      : (f) => G.setTimeout(() => f(Date.now()), 16),
    cancelAnimationFrame: (id) => (G.cancelAnimationFrame || G.clearTimeout)(id),
    document: G.document,
    random: Math.random,
    digest: G.crypto && G.crypto.subtle && ((b) => G.crypto.subtle.digest("SHA-256", b)),
    ...o,
  };
}

const clamp01 = (x) => (x < 0 ? 0 : x > 1 ? 1 : x);

// splice applies a patch in the "splice" format (IM: splice) to the bytes
// a: a JSON line [copy, delete, insert, ...] then the inserted bytes.
export function splice(a, p) {
  const nl = p.indexOf(10), ops = JSON.parse(new TextDecoder().decode(p.subarray(0, nl)));
  let n = a.length, o = 0, pos = 0, ins = nl + 1;
  for (let k = 0; k < ops.length; k += 3) n += ops[k + 2] - ops[k + 1];
  const out = new Uint8Array(n);
  for (let k = 0; k < ops.length; k += 3) {
    const c = ops[k], m = ops[k + 2];
    out.set(a.subarray(pos, pos + c), o);
    out.set(p.subarray(ins, ins + m), o + c);
    o += c + m, pos += c + ops[k + 1], ins += m;
  }
  out.set(a.subarray(pos), o);
  if (ins != p.length || o + a.length - pos != n) throw new Error("bad patch");
  return out;
}

// hex of the first 16 bytes of SHA-256: the hash a jawas ETag names.
const hash16 = async (e, b) => [...new Uint8Array(await e.digest(b)).slice(0, 16)].map((x) => (x + 256).toString(16).slice(1)).join("");

// watch polls url once per period and calls onData(data, info) on an
// animation frame with the newest snapshot only. See client.d.ts.
export function watch(url, onData, opts = {}) {
  const e = env(opts);
  const doc = e.document;
  let period = +opts.period || 1000;
  let ref = 0; // a local time (ms) that is a period boundary; 0 = the epoch
  // Fetch at boundary + phase: the engine publishes at the boundary, and
  // clients spread over the period instead of stampeding at it. The phase is
  // per watcher, so a page's watchers take turns on one keep-alive connection
  // instead of opening one each at the same instant.
  const phase = opts.phase ?? 0.05 + 0.9 * e.random();
  let etag = null, lastMod = null, timer = null, frameId = null, pending = null, ctl = null;
  let failures = 0, stopped = false, lastStart = -Infinity;
  let prev, next, at = 0, latest, info;
  // raw: the exact bytes of the version held, to apply patches to; only
  // kept when patches are asked for (opts.deltas, default on, needs
  // SHA-256 to check them: secure contexts)
  let raw = null;
  const deltas = opts.deltas !== false && !!e.digest;
  const stats = { requests: 0, fresh: 0, notModified: 0, errors: 0, patched: 0, patchFailures: 0 };

  const schedule = (ms) => {
    e.clearTimeout(timer);
    timer = e.setTimeout(tick, ms > 0 ? ms : 0);
  };

  // delay to the next "boundary + phase" slot, at least half a period after
  // the last fetch started, so a fast answer never causes two fetches per slot.
  const nextDelay = () => {
    const now = e.now(), off = ref + phase * period;
    const after = Math.max(now, lastStart + period / 2);
    return off + (Math.floor((after - off) / period) + 1) * period - now;
  };

  async function tick() {
    timer = null;
    if (stopped || ctl) return;
    if (doc && doc.hidden) return; // paused; visibilitychange resumes
    let delay;
    ctl = G.AbortController ? new AbortController() : {};
    stats.requests++;
    lastStart = e.now();
    try {
      const headers = {};
      if (etag) headers["If-None-Match"] = etag;
      if (etag && raw) headers["A-IM"] = "splice";
      else if (lastMod) headers["If-Modified-Since"] = lastMod; // a static host without ETags
      // no-store: we revalidate ourselves, the browser cache must not answer.
      const res = await e.fetch(url, { headers, cache: "no-store", signal: ctl.signal });
      const h = res.headers, now = e.now();
      const p = +h.get("X-Jawas-Period"), n = h.get("X-Jawas-Next");
      const stale = +h.get("X-Jawas-Stale") || 0; // the engine's lag, when it fell behind
      if (p > 0) period = p;
      if (n != null && n !== "") ref = now + +n;
      if (res.status == 304) stats.notModified++;
      else if (res.ok) {
        let data, bytes = deltas && new Uint8Array(await res.arrayBuffer());
        if (res.status == 226) {
          // a patch from the version held: rebuild the new version's exact
          // bytes and check them against its ETag (a hash of them); any
          // mismatch drops what we hold and fetches in full at once.
          try {
            bytes = splice(raw, bytes);
            if (await hash16(e, bytes) != h.get("ETag").replace(/^(W\/)?"|(-gzip|-br)?"$/g, "")) throw 0;
            stats.patched++;
          } catch {
            stats.patchFailures++;
            etag = raw = null;
            return schedule(0);
          }
        }
        data = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : await res.json();
        raw = bytes || null;
        etag = h.get("ETag");
        lastMod = h.get("Last-Modified");
        stats.fresh++;
        const boundary = ref + Math.floor((now - ref) / period) * period - stale;
        show(data, { etag, period, boundary, age: now - boundary, received: now, status: res.status });
      } else throw Object.assign(new Error("HTTP " + res.status), { status: res.status, retry: +h.get("Retry-After") * 1000 || 0 });
      failures = 0;
      delay = nextDelay();
    } catch (err) {
      if (stopped) return;
      stats.errors++;
      // exponential backoff with full jitter, capped; reset by a success.
      const cap = Math.min(opts.maxBackoff || 30000, (opts.backoff || period) * 2 ** ++failures);
      delay = Math.max(e.random() * cap, err.retry || 0); // a server's Retry-After (s) is a floor
      opts.onError && opts.onError(err, { failures, delay });
    } finally {
      ctl = null;
    }
    if (!stopped) schedule(delay);
  }

  // show keeps only the newest snapshot until the next animation frame.
  function show(data, i) {
    pending = [data, i];
    if (frameId == null) frameId = e.requestAnimationFrame(flush);
  }

  function flush() {
    frameId = null;
    if (!pending || stopped) return;
    const [data, i] = pending;
    pending = null;
    // blend from what is on screen now, so a snapshot arriving mid-move
    // never makes things jump.
    prev = next === undefined ? data : blend();
    next = latest = data;
    info = i;
    at = e.now();
    onData && onData(data, i);
  }

  const alpha = (t = e.now()) => clamp01((t - at) / period);
  const blend = (t) => interpolate(prev, next, alpha(t));

  const onVis = () => {
    if (!doc.hidden && !stopped && !ctl) {
      e.clearTimeout(timer);
      tick();
    }
  };
  doc && doc.addEventListener && doc.addEventListener("visibilitychange", onVis);

  if (opts.initial !== undefined) show(opts.initial, { etag: null, period, initial: true });
  schedule(opts.delay || 0);

  return {
    stats,
    get period() { return period; },
    get failures() { return failures; }, // consecutive failed fetches; 0 when healthy
    latest: () => latest,
    info: () => info,
    alpha,
    blend,
    lerp(get, t) {
      const g = typeof get == "function" ? get : (o) => String(get).split(".").reduce((v, k) => v == null ? v : v[k], o);
      return interpolate(g(prev), g(next), alpha(t));
    },
    refresh: () => { e.clearTimeout(timer); tick(); },
    stop() {
      stopped = true;
      e.clearTimeout(timer);
      if (frameId != null) e.cancelAnimationFrame(frameId);
      ctl && ctl.abort && ctl.abort();
      doc && doc.removeEventListener && doc.removeEventListener("visibilitychange", onVis);
    },
  };
}

// interpolate blends b's numbers from a's at t in [0,1]. Objects blend key by
// key; arrays by index, or by `id` when their items carry one (so reordered
// lists still blend); anything else, or a missing counterpart, snaps to b.
export function interpolate(a, b, t) {
  if (t >= 1 || a === b) return b;
  if (typeof b == "number") return typeof a == "number" && isFinite(a) ? a + (b - a) * t : b;
  if (!b || typeof b != "object" || !a || typeof a != "object" || Array.isArray(a) != Array.isArray(b)) return b;
  if (Array.isArray(b)) {
    const byId = b.length && b[0] && b[0].id !== undefined && new Map(a.map((x) => [x && x.id, x]));
    return b.map((x, i) => interpolate(byId ? byId.get(x && x.id) : a[i], x, t));
  }
  const o = {};
  for (const k in b) o[k] = interpolate(a[k], b[k], t);
  return o;
}

// frame calls cb(time) on every animation frame until the returned function
// is called.
export function frame(cb, opts) {
  const e = env(opts);
  let id, on = true;
  const loop = (t) => {
    if (!on) return;
    id = e.requestAnimationFrame(loop);
    cb(t);
  };
  id = e.requestAnimationFrame(loop);
  return () => {
    on = false;
    e.cancelAnimationFrame(id);
  };
}

// animate calls render(blended, alpha) every frame once w has data; alpha goes
// 0→1 over one period after each new snapshot.
export function animate(w, render, opts) {
  return frame(() => {
    if (w.latest() !== undefined) render(w.blend(), w.alpha());
  }, opts);
}

// post sends body (JSON, or a string as text) and resolves to
// { id, visibleAt } from the server's 202; otherwise rejects with an Error
// whose message is the server's and whose `status` is the HTTP status
// (0 when the network failed). With opts.wait it then polls the event's
// status once per period and resolves only once the reducer applied it
// ({ ..., applied: true, boundary }), or rejects with what the reducer
// threw (err.state "rejected", err.reason the server's full reason).
export const post = (url, body, opts) => send("POST", url, body, opts);
export const put = (url, body, opts) => send("PUT", url, body, opts);

async function send(method, url, body, opts = {}) {
  const e = env(opts), text = typeof body == "string";
  let res;
  try {
    res = await e.fetch(url, {
      method,
      headers: { "Content-Type": text ? "text/plain;charset=utf-8" : "application/json", ...opts.headers },
      body: text ? body : JSON.stringify(body),
    });
  } catch (err) {
    throw Object.assign(new Error(err.message || "network error"), { status: 0 });
  }
  const raw = await res.text();
  let j;
  try { j = JSON.parse(raw); } catch {}
  if (!res.ok) {
    const t = raw.trim(); // a plain-text message, not an HTML error page
    const msg = (j && (j.error || j.message)) || (t[0] != "<" && t.slice(0, 200)) || res.statusText || "HTTP " + res.status;
    throw Object.assign(new Error(msg), { status: res.status, body: j ?? raw });
  }
  const r = { id: j && j.id, visibleAt: j && j.visible_at, status: res.status };
  return opts.wait ? confirm(e, url, j || {}, r, opts) : r;
}

// confirm polls the event's status_url once per period (the source's, from
// the 202) until its fate is known; network errors are retried until
// opts.timeout (default 30 s, at least 20 periods).
async function confirm(e, url, j, r, opts) {
  const period = j.period_ms || opts.period || 1000, end = e.now() + (opts.timeout || Math.max(30000, 20 * period));
  const fail = (msg, state, reason) => Object.assign(new Error(msg), { status: r.status, id: r.id, state, reason });
  if (!j.status_url) throw fail("the server gave no status_url to wait on", "unknown");
  const su = /^\w+:/.test(url) ? new URL(j.status_url, url).href : j.status_url;
  for (;;) {
    await new Promise((ok) => e.setTimeout(ok, period));
    let s;
    try { s = await (await e.fetch(su, { cache: "no-store" })).json(); } catch {} // retried next period
    const st = s && s.state;
    if (st == "applied") return { ...r, applied: true, boundary: Date.parse(s.boundary) };
    if (st == "rejected") throw fail(String(s.reason).replace(/^[\s\S]*? reducer threw (Error: )?/, ""), st, s.reason);
    if (st == "expired" || st == "unknown") throw fail("the write's fate is " + st, st);
    if (e.now() >= end) throw fail("the write was not applied in time", "pending");
  }
}

// connectDev is the live-reload hook of `jawas serve --dev`. It watches
// /_jawas/dev.json ({build, errors}), a snapshot like any other: once per
// period with If-None-Match, so it costs a 304 while nothing changes. A new
// `build` (a site file, template or config changed) reloads the page;
// `errors` (file:line, message, code frame) are shown in an overlay that
// goes away when they are fixed. Source changes need neither: their data
// arrives through the page's own watchers. Calling it again returns the
// same watcher (the page and the tag jawas injects may both call it).
let dev;
export function connectDev(opts = {}) {
  if (dev) return dev;
  let build;
  const doc = opts.document || G.document;
  return (dev = watch(opts.url || "/_jawas/dev.json", (d) => {
    if (build !== undefined && d.build !== build) return opts.onReload ? opts.onReload() : G.location.reload();
    build = d.build;
    (opts.onErrors || ((e) => overlay(doc, e)))(d.errors || []);
  }, opts));
}

// overlay shows errs over the page (text only, never HTML), or removes it.
function overlay(doc, errs) {
  let el = doc.getElementById("jawas-dev-overlay");
  if (!errs.length) return el && el.remove();
  if (!el) {
    el = doc.createElement("pre");
    el.id = "jawas-dev-overlay";
    el.style.cssText = "position:fixed;inset:0;z-index:2147483647;margin:0;padding:24px;overflow:auto;background:#14060aee;color:#f4f4f5;font:14px/1.5 ui-monospace,monospace;white-space:pre-wrap";
    doc.body.append(el);
  }
  el.textContent = `jawas dev: ${errs.length} error${errs.length > 1 ? "s" : ""}, fix and save\n\n` + errs.map((e) =>
    (e.file ? e.file + (e.line ? ":" + e.line + (e.column ? ":" + e.column : "") : "") + ": " : "") + e.message + (e.frame ? "\n" + e.frame : "")).join("\n\n");
}
