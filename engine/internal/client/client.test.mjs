// Tests for client.js with Node's built-in runner: node --test engine/internal/client/
// Time, timers, rAF, fetch and document are fakes injected through opts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { watch, interpolate, animate, post, put, connectDev, splice } from "./client.js";
import { createHash } from "node:crypto";

// fakeHost is virtual time with timers, animation frames, a document and a
// scripted fetch. handler(url, init, host) returns a Response or throws.
function fakeHost(handler, { start = 1_000_000_000_000 + 37, random } = {}) {
  const h = {
    t: start,
    timers: new Map(),
    frames: new Map(),
    seq: 0,
    calls: [],
    listeners: new Set(),
    document: null,
  };
  h.document = {
    hidden: false,
    addEventListener: (ev, f) => ev === "visibilitychange" && h.listeners.add(f),
    removeEventListener: (ev, f) => h.listeners.delete(f),
  };
  h.opts = {
    now: () => h.t,
    setTimeout: (f, ms) => (h.timers.set(++h.seq, { at: h.t + ms, f }), h.seq),
    clearTimeout: (id) => h.timers.delete(id),
    requestAnimationFrame: (f) => (h.frames.set(++h.seq, f), h.seq),
    cancelAnimationFrame: (id) => h.frames.delete(id),
    document: h.document,
    random: random || Math.random,
    fetch: async (url, init) => {
      h.calls.push({ url, init, t: h.t });
      return handler(url, init, h);
    },
  };
  // settle lets pending promise chains (fetch → json → schedule) finish.
  h.settle = () => new Promise((r) => setImmediate(r));
  // advance moves virtual time, firing due timers in order.
  h.advance = async (ms) => {
    const end = h.t + ms;
    for (;;) {
      await h.settle();
      let next = null;
      for (const [id, tm] of h.timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
      if (!next) break;
      h.timers.delete(next[0]);
      h.t = Math.max(h.t, next[1].at);
      next[1].f();
    }
    h.t = end;
    await h.settle();
  };
  // frame runs one animation frame.
  h.frame = () => {
    const fs = [...h.frames.values()];
    h.frames.clear();
    fs.forEach((f) => f(h.t));
  };
  h.setHidden = (v) => {
    h.document.hidden = v;
    h.listeners.forEach((f) => f());
  };
  // nextTimer is the delay of the earliest pending timer.
  h.nextTimer = () => Math.min(...[...h.timers.values()].map((x) => x.at)) - h.t;
  return h;
}

// jawasServer answers like jawas: period 200 ms, epoch-aligned boundaries,
// an ETag per boundary's content, 304 when If-None-Match matches.
function jawasServer({ period = 200, version = (h) => Math.floor(h.t / period) } = {}) {
  return (url, init, h) => {
    const v = version(h);
    const etag = `"v${v}"`;
    const headers = {
      ETag: etag,
      "X-Jawas-Period": String(period),
      "X-Jawas-Next": String(period - (h.t % period)),
    };
    if (init.headers["If-None-Match"] === etag) return new Response(null, { status: 304, headers });
    return new Response(JSON.stringify({ v, x: v * 10 }), { status: 200, headers });
  };
}

test("period and boundary come from the headers; next fetch is at boundary + phase", async () => {
  const h = fakeHost(jawasServer({ period: 200 }));
  const got = [];
  const w = watch("/clock.json", (d, i) => got.push([d, i]), { ...h.opts, phase: 0.25 });
  await h.advance(0);
  assert.equal(h.calls.length, 1, "first fetch at once");
  assert.equal(h.calls[0].init.cache, "no-store");
  assert.equal(w.period, 200);
  const boundary = h.t - (h.t % 200);
  // the next fetch lands 50 ms (0.25 * 200) after the next boundary
  assert.equal(h.t + h.nextTimer(), boundary + 200 + 50);
  h.frame();
  assert.equal(got.length, 1);
  assert.equal(got[0][1].period, 200);
  assert.equal(got[0][1].boundary, boundary);
  assert.equal(got[0][1].age, h.t - boundary);
  assert.equal(got[0][1].etag, `"v${boundary / 200}"`);
  await h.advance(1000);
  // one fetch per period, every one at boundary + 50 ms
  // from t = …037: fetches at …250, …450, …650, …850 after the first one
  assert.equal(h.calls.length, 5);
  for (const c of h.calls.slice(1)) assert.equal(c.t % 200, 50);
  w.stop();
});

test("without jawas headers it falls back to opts.period, then 1000 ms", async () => {
  const plain = () => new Response('{"a":1}', { status: 200, headers: { ETag: '"x"' } });
  for (const [period, want] of [[500, 500], [undefined, 1000]]) {
    const h = fakeHost(plain);
    const w = watch("/a.json", null, { ...h.opts, period, phase: 0 });
    await h.advance(10 * want);
    assert.equal(w.period, want);
    assert.ok(h.calls.length === 10 || h.calls.length === 11, `calls ${h.calls.length}`);
    // a static host's ETag is still used for revalidation
    assert.equal(h.calls[3].init.headers["If-None-Match"], '"x"');
    w.stop();
  }
});

test("a static host without ETag is revalidated with If-Modified-Since", async () => {
  const lm = "Thu, 26 Nov 2026 05:00:00 GMT";
  const h = fakeHost((u, init) =>
    init.headers["If-Modified-Since"] === lm
      ? new Response(null, { status: 304 })
      : new Response('{"a":1}', { status: 200, headers: { "Last-Modified": lm } }));
  let delivered = 0;
  const w = watch("/a.json", () => delivered++, { ...h.opts, phase: 0 });
  await h.advance(5000);
  h.frame();
  assert.equal(h.calls[0].init.headers["If-Modified-Since"], undefined);
  assert.equal(h.calls[2].init.headers["If-Modified-Since"], lm);
  assert.equal(w.stats.fresh, 1);
  assert.ok(w.stats.notModified >= 4);
  assert.equal(delivered, 1);
  w.stop();
});

test("ETag revalidation: sends If-None-Match; 304 keeps data and calls no onData", async () => {
  // content changes only every 5 periods
  const h = fakeHost(jawasServer({ period: 200, version: (h) => Math.floor(h.t / 1000) }));
  let delivered = 0;
  const w = watch("/c.json", () => delivered++, { ...h.opts, phase: 0.5 });
  await h.advance(0);
  h.frame();
  const first = w.latest();
  assert.equal(delivered, 1);
  const calls = h.calls.length;
  // advance within the same 1000 ms version window
  const toNextVersion = 1000 - (h.t % 1000);
  await h.advance(toNextVersion - 1);
  h.frame();
  const revalidations = h.calls.slice(calls);
  assert.ok(revalidations.length >= 1);
  for (const c of revalidations) assert.equal(c.init.headers["If-None-Match"], w.info().etag);
  assert.equal(delivered, 1, "304 must not call onData");
  assert.equal(w.latest(), first, "304 keeps data");
  assert.equal(w.stats.notModified, revalidations.length);
  await h.advance(400);
  h.frame();
  assert.equal(delivered, 2, "new version delivered");
  assert.notDeepEqual(w.latest(), first);
  w.stop();
});

// mulberry32: a seeded PRNG so the spread test is deterministic.
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("phase spread: 100 clients' scheduled fetches spread over the period", async () => {
  const random = prng(42);
  const offsets = [];
  for (let i = 0; i < 100; i++) {
    const h = fakeHost(jawasServer({ period: 200 }), { random });
    const w = watch("/c.json", null, h.opts);
    await h.advance(0);
    offsets.push((h.t + h.nextTimer()) % 200);
    w.stop();
  }
  const buckets = new Array(10).fill(0);
  for (const o of offsets) buckets[Math.floor(o / 20)]++;
  // every tenth of the period is used, none holds more than a quarter
  assert.ok(buckets.every((b) => b > 0), `buckets ${buckets}`);
  assert.ok(Math.max(...buckets) <= 25, `buckets ${buckets}`);
  // not at the boundary itself: the engine publishes there
  assert.ok(Math.min(...offsets) >= 10, `min offset ${Math.min(...offsets)}`);
});

test("backoff: grows, is jittered, is capped, resets on success", async () => {
  let fail = true;
  const ok = jawasServer({ period: 200 });
  const h = fakeHost((u, i, h) => {
    if (!fail) return ok(u, i, h);
    if (h.calls.length % 2) throw new TypeError("Failed to fetch");
    return new Response("boom", { status: 503 });
  }, { random: () => 1 - 1e-9 });
  const errors = [];
  const w = watch("/c.json", null, { ...h.opts, period: 200, phase: 0.5, onError: (e, r) => errors.push(r) });
  await h.advance(0);
  const delays = [];
  for (let i = 0; i < 12; i++) {
    delays.push(h.nextTimer());
    await h.advance(h.nextTimer());
  }
  // random() ≈ 1 shows the cap of each step: 400, 800, ... then 30 s
  assert.deepEqual(delays.slice(0, 5).map(Math.round), [400, 800, 1600, 3200, 6400]);
  assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]), "grows");
  assert.ok(Math.max(...delays) <= 30000 && delays.at(-1) > 29000, "capped at 30 s");
  assert.equal(errors.length, w.stats.errors);
  assert.equal(errors[2].failures, 3);
  assert.equal(w.failures, 13, "the first fetch and 12 retries failed");
  fail = false;
  await h.advance(h.nextTimer()); // recovers by itself
  assert.equal(w.stats.fresh, 1);
  assert.equal(w.failures, 0);
  const after = h.nextTimer();
  // the next boundary + phase slot at least half a period after this fetch
  assert.ok(after <= 300 && (h.t + after) % 200 === 100, `back to the period after success, got ${after}`);
  // a new failure starts again from the smallest step
  fail = true;
  await h.advance(h.nextTimer());
  assert.equal(Math.round(h.nextTimer()), 400, "reset after success");
  w.stop();
});

test("backoff delays are jittered (full jitter)", async () => {
  const random = prng(7);
  const h = fakeHost(() => { throw new TypeError("Failed to fetch"); }, { random });
  const w = watch("/c.json", null, { ...h.opts, period: 200, phase: 0.5 });
  await h.advance(0);
  const ratios = [];
  for (let n = 1; n <= 6; n++) {
    ratios.push(h.nextTimer() / (200 * 2 ** n));
    await h.advance(h.nextTimer());
  }
  assert.ok(ratios.every((r) => r >= 0 && r < 1));
  assert.ok(new Set(ratios.map((r) => r.toFixed(3))).size === 6, "different fractions of the cap");
  w.stop();
});

test("Retry-After is a floor for the backoff delay", async () => {
  const h = fakeHost(() => new Response("busy", { status: 503, headers: { "Retry-After": "7" } }), { random: () => 0.5 });
  const w = watch("/c.json", null, { ...h.opts, period: 200 });
  await h.advance(0);
  assert.equal(h.nextTimer(), 7000);
  w.stop();
});

test("hidden tab pauses polling and visibility resumes at once", async () => {
  const h = fakeHost(jawasServer({ period: 200 }));
  const w = watch("/c.json", null, { ...h.opts, phase: 0.5 });
  await h.advance(1000);
  const before = h.calls.length;
  h.setHidden(true);
  await h.advance(5000);
  assert.ok(h.calls.length - before <= 1, `at most the already-scheduled fetch, got ${h.calls.length - before}`);
  const paused = h.calls.length;
  assert.equal(h.timers.size, 0, "no timer left while hidden");
  h.setHidden(false);
  await h.settle();
  assert.equal(h.calls.length, paused + 1, "fetches at once when visible");
  await h.advance(1000);
  assert.ok(h.calls.length >= paused + 5, "polling again");
  w.stop();
});

test("newest only: two snapshots before a frame deliver only the newer", async () => {
  const h = fakeHost(jawasServer({ period: 200 }));
  const got = [];
  const w = watch("/c.json", (d) => got.push(d.v), { ...h.opts, phase: 0.5 });
  await h.advance(1000); // ~5 snapshots, no frame ran
  assert.ok(w.stats.fresh >= 4);
  assert.equal(h.frames.size, 1, "one frame requested, not one per snapshot");
  h.frame();
  assert.equal(got.length, 1);
  assert.equal(got[0], Math.floor(h.calls.at(-1).t / 200), "the newest");
  h.frame();
  assert.equal(got.length, 1, "no backlog");
  w.stop();
});

test("stop cancels timers, frames and the listener", async () => {
  const h = fakeHost(jawasServer());
  const w = watch("/c.json", () => assert.fail("no delivery after stop"), h.opts);
  await h.advance(0);
  w.stop();
  h.frame();
  await h.advance(2000);
  assert.equal(h.calls.length, 1);
  assert.equal(h.listeners.size, 0);
});

test("interpolate: numbers, objects by key, arrays by id, others snap", () => {
  assert.equal(interpolate(0, 10, 0.25), 2.5);
  assert.equal(interpolate("a", 10, 0.5), 10);
  assert.equal(interpolate(0, 10, 1), 10);
  assert.deepEqual(interpolate({ x: 0, s: "a", n: { y: 4 } }, { x: 2, s: "b", n: { y: 8 }, z: 1 }, 0.5), { x: 1, s: "b", n: { y: 6 }, z: 1 });
  assert.deepEqual(interpolate([0, 10], [10, 20, 30], 0.5), [5, 15, 30]);
  const a = [{ id: "p", x: 0 }, { id: "q", x: 100 }];
  const b = [{ id: "q", x: 200 }, { id: "r", x: 7 }, { id: "p", x: 10 }];
  assert.deepEqual(interpolate(a, b, 0.5), [{ id: "q", x: 150 }, { id: "r", x: 7 }, { id: "p", x: 5 }]);
  assert.deepEqual(interpolate({ a: 1 }, [1], 0.5), [1]);
  assert.equal(interpolate({ a: 1 }, null, 0.5), null);
});

test("animate: alpha goes 0→1 over one period; a new snapshot blends from the screen", async () => {
  const h = fakeHost(jawasServer({ period: 200 }));
  const w = watch("/c.json", null, { ...h.opts, phase: 0.5 });
  const seen = [];
  animate(w, (d, a) => seen.push([d.x, a]), h.opts);
  await h.advance(0);
  h.frame(); // delivers v0 (animate's frame ran first and had nothing yet)
  h.frame(); // renders it
  const x0 = w.latest().x;
  assert.deepEqual(seen.at(-1), [x0, 0]);
  await h.advance(h.nextTimer()); // next version arrives
  h.frame(); // delivers v1
  const target = w.latest().x;
  assert.equal(target, x0 + 10);
  h.t += 50; h.frame();
  assert.deepEqual(seen.at(-1), [x0 + 2.5, 0.25]);
  h.t += 100; h.frame();
  assert.deepEqual(seen.at(-1), [x0 + 7.5, 0.75]);
  h.t += 100; h.frame();
  assert.deepEqual(seen.at(-1), [target, 1]);
  assert.equal(w.lerp("x"), target);
  assert.equal(w.lerp((d) => d.x * 2), target * 2);
  w.stop();
});

test("post: sends JSON, resolves to {id, visibleAt} from the 202 body", async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push([url, init]);
    return new Response('{"id":"e-17","visible_at":1700000000200}', { status: 202 });
  };
  const r = await post("/chat.json", { text: "hi" }, { fetch });
  assert.deepEqual({ id: r.id, visibleAt: r.visibleAt }, { id: "e-17", visibleAt: 1700000000200 });
  assert.equal(calls[0][1].method, "POST");
  assert.equal(calls[0][1].headers["Content-Type"], "application/json");
  assert.equal(calls[0][1].body, '{"text":"hi"}');
  await put("/t.json", "plain", { fetch });
  assert.equal(calls[1][1].method, "PUT");
  assert.equal(calls[1][1].body, "plain");
  assert.match(calls[1][1].headers["Content-Type"], /^text\/plain/);
});

test("post: rejects with the status and the server's message", async () => {
  const cases = [
    [new Response('{"error":"writes are not enabled"}', { status: 405 }), 405, "writes are not enabled"],
    [new Response("queue full\n", { status: 503 }), 503, "queue full"],
    [new Response("", { status: 413, statusText: "Payload Too Large" }), 413, "Payload Too Large"],
    [new Response("<!DOCTYPE html><html><body><h1>Unsupported method</h1></body></html>", { status: 501, statusText: "Unsupported method ('POST')" }), 501, "Unsupported method ('POST')"],
    [new Response("<html></html>", { status: 502 }), 502, "HTTP 502"],
  ];
  for (const [res, status, msg] of cases) {
    await assert.rejects(post("/chat.json", {}, { fetch: async () => res }), (err) => {
      assert.ok(err instanceof Error);
      assert.equal(err.status, status);
      assert.equal(err.message, msg);
      return true;
    });
  }
  await assert.rejects(post("/x", {}, { fetch: async () => { throw new TypeError("Failed to fetch"); } }), { status: 0 });
});

test("a snapshot arriving mid-blend starts from what is on screen (no jump)", async () => {
  const xs = [0, 100, 200];
  let n = 0;
  const h = fakeHost(() => new Response(JSON.stringify({ x: xs[Math.min(n++, 2)] }), { status: 200, headers: { "X-Jawas-Period": "200", ETag: `"${n}"` } }));
  const w = watch("/c.json", null, { ...h.opts, phase: 0.5 });
  await h.advance(0);
  h.frame();
  assert.equal(w.blend().x, 0);
  w.refresh();
  await h.settle();
  h.frame(); // x = 100 delivered: moving 0 → 100
  h.t += 100;
  assert.equal(w.blend().x, 50);
  w.refresh();
  await h.settle();
  h.frame(); // x = 200 delivered while the screen shows 50
  assert.equal(w.blend().x, 50, "starts where the screen was");
  h.t += 100;
  assert.equal(w.blend().x, 125);
  h.t += 100;
  assert.equal(w.blend().x, 200);
  w.stop();
});

// ---- dev hook ---------------------------------------------------------------

// fakeDOM is just enough of a document for the dev overlay.
function fakeDOM(doc) {
  const byId = new Map();
  doc.body = {
    append: (el) => byId.set(el.id, el),
  };
  doc.getElementById = (id) => byId.get(id) || null;
  doc.createElement = (tag) => {
    const el = { tagName: tag, id: "", style: {}, textContent: "" };
    el.remove = () => byId.delete(el.id);
    return el;
  };
  return byId;
}

test("connectDev: polls dev.json once per period, reloads on a new build, overlay while errors last", async () => {
  let state = { build: 1, errors: [] };
  const h = fakeHost(jawasServer({ version: () => JSON.stringify(state) }));
  // jawasServer's body is {v, x}: answer dev.json's own body instead.
  const serve = h.opts.fetch;
  h.opts.fetch = async (url, init) => {
    const res = await serve(url, init);
    if (res.status !== 200) return res;
    return new Response(JSON.stringify(state), { status: 200, headers: res.headers });
  };
  const dom = fakeDOM(h.document);
  let reloads = 0;
  const w = connectDev({ ...h.opts, onReload: () => reloads++ });
  assert.equal(connectDev(), w, "a second call returns the same watcher");
  await h.advance(0);
  h.frame();
  assert.equal(h.calls[0].url, "/_jawas/dev.json");
  assert.equal(dom.size, 0, "no overlay without errors");

  await h.advance(1000);
  h.frame();
  assert.ok(h.calls.length >= 4 && h.calls.length <= 6, `once per 200 ms period: ${h.calls.length} fetches in 1 s`);
  assert.ok(h.calls.slice(1).every((c) => c.init.headers["If-None-Match"]), "revalidates with If-None-Match");

  state = { build: 1, errors: [{ file: "sources/clock.js", line: 3, column: 7, message: "Expected \";\"", frame: "> 3 | x y" }] };
  await h.advance(400);
  h.frame();
  const el = dom.get("jawas-dev-overlay");
  assert.ok(el, "overlay shown");
  assert.match(el.textContent, /sources\/clock\.js:3:7: Expected ";"/);
  assert.match(el.textContent, /> 3 \| x y/);
  assert.equal(reloads, 0, "errors alone do not reload");

  state = { build: 1, errors: [] };
  await h.advance(400);
  h.frame();
  assert.equal(dom.size, 0, "overlay removed when fixed");

  state = { build: 2, errors: [] };
  await h.advance(400);
  h.frame();
  assert.equal(reloads, 1, "a new build reloads the page");
  w.stop();
});

// waitServer answers a write with a 202 naming its status URL and period,
// then the event's status: pending for `pending` polls, then `fate`.
function waitServer(fate, { pending = 2 } = {}) {
  let polls = 0;
  return (url, init, h) => {
    if (init && init.method) {
      return new Response(JSON.stringify({ id: "e-1", visible_at: h.t + 150, status_url: "/_jawas/events/e-1", period_ms: 200 }), { status: 202 });
    }
    assert.equal(url, "/_jawas/events/e-1");
    if (polls++ < pending) return new Response('{"id":"e-1","state":"pending"}', { status: 200 });
    return new Response(JSON.stringify({ id: "e-1", ...fate }), { status: fate.state == "unknown" ? 404 : 200 });
  };
}

test("post with wait: polls the status once per period, resolves when applied", async () => {
  const h = fakeHost(waitServer({ state: "applied", boundary: "2026-01-01T00:00:00.200Z" }));
  let done;
  const p = post("/scores.json", { points: 3 }, { ...h.opts, wait: true }).then((r) => (done = r));
  await h.advance(450);
  assert.equal(done, undefined, "still pending after two polls");
  await h.advance(200);
  assert.deepEqual(await p, { id: "e-1", visibleAt: 1_000_000_000_000 + 37 + 150, status: 202, applied: true, boundary: Date.parse("2026-01-01T00:00:00.200Z") });
  const polls = h.calls.filter((c) => !c.init.method).map((c) => c.t - h.calls[0].t);
  assert.deepEqual(polls, [200, 400, 600], "one status poll per period (period_ms from the 202)");
});

test("post with wait: rejects with what the reducer threw", async () => {
  const reason = "sources/scores.ts:9:11: post reducer threw Error: points must be a number";
  const h = fakeHost(waitServer({ state: "rejected", reason, boundary: "2026-01-01T00:00:00.200Z" }, { pending: 0 }));
  const p = post("/scores.json", { points: "3" }, { ...h.opts, wait: true });
  const check = assert.rejects(p, (err) => {
    assert.equal(err.message, "points must be a number");
    assert.equal(err.state, "rejected");
    assert.equal(err.reason, reason);
    assert.equal(err.id, "e-1");
    assert.equal(err.status, 202);
    return true;
  });
  await h.advance(200);
  await check;
});

test("post with wait: an unknown fate or a timeout rejects, a network error is retried", async () => {
  let h = fakeHost(waitServer({ state: "unknown" }, { pending: 0 }));
  let check = assert.rejects(put("/t.json", {}, { ...h.opts, wait: true }), { state: "unknown" });
  await h.advance(200);
  await check;

  let fails = 2;
  const flaky = waitServer({ state: "applied", boundary: "2026-01-01T00:00:00.200Z" }, { pending: 0 });
  h = fakeHost((url, init, host) => {
    if (!init.method && fails-- > 0) throw new TypeError("Failed to fetch");
    return flaky(url, init, host);
  });
  const ok = post("/t.json", {}, { ...h.opts, wait: true });
  await h.advance(600);
  assert.equal((await ok).applied, true);

  h = fakeHost(waitServer({}, { pending: Infinity }));
  check = assert.rejects(post("/t.json", {}, { ...h.opts, wait: true, timeout: 1000 }), { state: "pending" });
  await h.advance(1200);
  await check;
  assert.equal(h.calls.length, 1 + 5, "the write, then one poll per period until the timeout");
});

test("post without wait resolves at the 202, before any status poll", async () => {
  const h = fakeHost(waitServer({ state: "rejected", reason: "x" }, { pending: 0 }));
  const r = await post("/t.json", {}, h.opts);
  assert.equal(r.status, 202);
  assert.equal(r.applied, undefined);
  assert.equal(h.calls.length, 1);
});

// tagOf is a jawas ETag: the first 16 bytes of the body's SHA-256, in hex.
const tagOf = (s, suffix = "") => `"${createHash("sha256").update(s).digest("hex").slice(0, 32)}${suffix}"`;

test("splice: copies, deletes and inserts bytes; rejects a patch that does not add up", () => {
  const enc = (s) => new TextEncoder().encode(s), dec = (b) => new TextDecoder().decode(b);
  const a = enc('{"tick":1,"e":[{"id":1,"x":2},{"id":2,"x":3}]}');
  // tick 1→2; x of id 2: 3→3.5 and id 3 appended, in one splice (they are close)
  const p = enc('[8,1,1,33,2,19]\n23.5},{"id":3,"x":0}');
  assert.equal(dec(splice(a, p)), '{"tick":2,"e":[{"id":1,"x":2},{"id":2,"x":3.5},{"id":3,"x":0}]}');
  assert.equal(dec(splice(a, enc("[]\n"))), dec(a));
  assert.throws(() => splice(a, enc("[8,1,5]\n2")));
  assert.throws(() => splice(a, enc("[8,1,1]\n22")));
});

// until waits (real time: SubtleCrypto answers on another thread) for cond,
// firing the fake host's due timers meanwhile.
async function until(h, cond) {
  for (let i = 0; i < 200 && !cond(); i++) {
    await new Promise((r) => setTimeout(r, 5));
    await h.advance(0);
  }
  assert.ok(cond(), "condition not met in time");
}

// deltaServer answers like jawas with patches: versions are documents
// listed in docs; a client holding version k-1 that sends A-IM gets a 226
// with the splice patch to version k (made by patch(k)), unless broken.
function deltaServer(docs, { patch, suffix = "" }) {
  let k = 0;
  const r = {
    bump: () => k++,
    handler: (url, init) => {
      const headers = { ETag: tagOf(docs[k], suffix), "X-Jawas-Period": "200", "X-Jawas-Next": "100" };
      const inm = init.headers["If-None-Match"];
      if (inm === headers.ETag) return new Response(null, { status: 304, headers });
      if (k > 0 && inm === tagOf(docs[k - 1], suffix) && init.headers["A-IM"] === "splice")
        return new Response(patch(k), { status: 226, headers: { ...headers, IM: "splice", "Delta-Base": inm } });
      return new Response(docs[k], { status: 200, headers });
    },
  };
  return r;
}

test("watch applies patches (226) and checks them against the ETag", async () => {
  const docs = ['{"n":1,"list":[1,2,3]}', '{"n":2,"list":[1,2,3]}', '{"n":3,"list":[1,2,3,4]}'];
  const patches = [null, "[5,1,1]\n2", "[5,1,1,14,0,2]\n3,4"]; // as the store makes them
  const srv = deltaServer(docs, { patch: (k) => patches[k], suffix: "-gzip" });
  const h = fakeHost(srv.handler);
  const got = [];
  const w = watch("/g.json", (d) => got.push(d), { ...h.opts, phase: 0.5, digest: (b) => crypto.subtle.digest("SHA-256", b) });
  await h.advance(0);
  h.frame();
  assert.equal(h.calls[0].init.headers["A-IM"], undefined, "no A-IM without a version held");
  for (const k of [1, 2]) {
    srv.bump();
    await h.advance(200);
    await until(h, () => w.stats.patched == k);
    h.frame();
    const c = h.calls.at(-1);
    assert.equal(c.init.headers["A-IM"], "splice");
    assert.equal(c.init.headers["If-None-Match"], tagOf(docs[k - 1], "-gzip"));
    assert.deepEqual(got.at(-1), JSON.parse(docs[k]));
  }
  assert.equal(w.stats.patched, 2);
  assert.equal(w.stats.patchFailures, 0);
  w.stop();
});

test("a patch that does not rebuild the version is dropped and the snapshot fetched in full at once", async () => {
  const docs = ['{"n":1}', '{"n":2}'];
  const srv = deltaServer(docs, { patch: () => "[4,1,1]\n9" }); // rebuilds {"n":9}: the hash differs
  const h = fakeHost(srv.handler);
  const got = [];
  const w = watch("/g.json", (d) => got.push(d), { ...h.opts, phase: 0.5, digest: (b) => crypto.subtle.digest("SHA-256", b) });
  await h.advance(0);
  srv.bump();
  await h.advance(200);
  await until(h, () => h.calls.length == 3 && w.stats.fresh == 2);
  h.frame();
  const last = h.calls.slice(-2);
  assert.equal(last[0].init.headers["A-IM"], "splice");
  assert.equal(last[1].init.headers["If-None-Match"], undefined, "the refetch asks for the full body");
  assert.deepEqual(got.at(-1), { n: 2 });
  assert.equal(w.stats.patchFailures, 1);
  assert.equal(w.stats.patched, 0);
  w.stop();
});

test("without SHA-256 (an insecure context) or with deltas: false, no patches are asked for", async () => {
  for (const o of [{ digest: undefined }, { deltas: false }]) {
    const docs = ['{"n":1}', '{"n":2}'];
    const srv = deltaServer(docs, { patch: () => "[4,1,1]\n2" });
    const h = fakeHost(srv.handler);
    const w = watch("/g.json", () => {}, { ...h.opts, phase: 0.5, digest: (b) => crypto.subtle.digest("SHA-256", b), ...o });
    await h.advance(0);
    srv.bump();
    await h.advance(200);
    assert.equal(h.calls.at(-1).init.headers["A-IM"], undefined);
    w.stop();
  }
});
