// The demo page's behaviour: polls /clock.json, /arena.json, /chat.json and
// /market.json with the jawas client, draws the arena on a canvas every animation frame
// (interpolated between 5 Hz snapshots), and posts this browser's pointer
// and chat messages. The server never serves anything per visitor: this
// browser's identity is a random id in localStorage, and "you" is computed
// here.
import { watch, frame, post, connectDev } from "/_jawas/client.js";

const $ = (id) => document.getElementById(id);

// ---- identity (this browser only) ----------------------------------------

const COLORS = ["#f5a524", "#ef6f6c", "#5cc8ff", "#7bd88f", "#c792ea", "#ff9f43", "#4dd0e1", "#f06292", "#aed581", "#ffd54f"];
const ADJ = ["swift", "quiet", "sandy", "bright", "lucky", "brave", "tiny", "rusty", "sly", "merry"];
const NOUN = ["jawa", "droid", "fennec", "dune", "sandcrawler", "bantha", "scrapper", "tinker", "trader", "wanderer"];
const pick = (a) => a[Math.floor(Math.random() * a.length)];

function stored(store, key, make) {
  try {
    let v = store.getItem(key);
    if (!v) store.setItem(key, (v = make()));
    return v;
  } catch {
    return make(); // storage disabled: identity lasts for this page only
  }
}
const randomId = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b % 36).toString(36)).join("");
// The browser's id lives in localStorage (chat marks its messages as ours in
// every window); each window adds its own suffix (sessionStorage, so a reload
// keeps it) and gets its own avatar, so two windows show two players.
const browserId = stored(globalThis.localStorage, "jawas.id", () => randomId(10));
const me = {
  id: browserId + "-" + stored(globalThis.sessionStorage, "jawas.tab", () => randomId(5)),
  name: stored(globalThis.localStorage, "jawas.name", () => pick(ADJ) + "-" + pick(NOUN)),
  color: stored(globalThis.localStorage, "jawas.color", () => pick(COLORS)),
  x: 0.2 + Math.random() * 0.6,
  y: 0.2 + Math.random() * 0.6,
  active: false, // true once the pointer has been in the arena
};

// ---- connection indicator ---------------------------------------------------

const conn = $("conn");
function setConn(state, text) {
  conn.dataset.state = state;
  conn.lastElementChild.textContent = text;
}
let retryIn = 0;
const onError = (err, retry) => (retryIn = retry.delay);
// updateConn runs with the live panel: any snapshot failing → reconnecting.
function updateConn(watchers) {
  if (document.hidden) setConn("paused", "paused");
  else if (watchers.some((w) => w.failures > 0)) setConn("error", retryIn > 1500 ? `retrying in ${Math.round(retryIn / 1000)} s` : "reconnecting…");
  else if (watchers.some((w) => w.latest() !== undefined)) setConn("live", "live");
}
document.addEventListener("visibilitychange", () => updateConn(watchers));

// ---- clock ----------------------------------------------------------------

const clockTime = $("clock-time"), clockTick = $("clock-tick"), clockLocal = $("clock-local");
const periodFill = $("period-fill");
// The server-rendered page says the period and the time: show them until the
// first snapshot arrives. (Polling itself waits for X-Jawas-Period, so a
// static export on a plain host is polled at the client's 1 s fallback.)
const pagePeriod = +$("st-period").textContent || undefined;
if (clockTime.dateTime) clockLocal.textContent = new Date(clockTime.dateTime).toLocaleTimeString();
const clock = watch("/clock.json", (d) => {
  clockTime.textContent = d.time;
  clockTime.dateTime = d.iso;
  clockTick.textContent = d.tick;
  clockLocal.textContent = new Date(d.now).toLocaleTimeString();
}, { onError });

// ---- arena ----------------------------------------------------------------

const arenaEl = $("arena"), canvas = $("arena-canvas"), ctx2d = canvas.getContext("2d");
const hint = $("arena-hint"), note = $("arena-note"), arenaCount = $("arena-count");
if (matchMedia("(pointer: coarse)").matches) hint.textContent = "Drag here. Open this page on a second device too.";
let others = 0;
const arena = watch("/arena.json", (d) => {
  others = d.players.filter((p) => p.id !== me.id).length;
  arenaCount.textContent = `${others + 1} here`;
  hint.hidden = others > 0 && me.active;
}, { onError });

function pointer(ev) {
  const r = arenaEl.getBoundingClientRect();
  me.x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  me.y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
  me.active = true;
  if (others > 0) hint.hidden = true;
}
arenaEl.addEventListener("pointermove", pointer);
arenaEl.addEventListener("pointerdown", pointer);
arenaEl.addEventListener("keydown", (ev) => {
  const step = 0.03, k = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
  if (!k) return;
  ev.preventDefault();
  me.x = Math.min(1, Math.max(0, me.x + k[0]));
  me.y = Math.min(1, Math.max(0, me.y + k[1]));
  me.active = true;
});

// Writes: at most one position per period, only when it changed (or every
// few seconds so the server keeps us), never while the tab is hidden.
const writes = { state: "unknown", last: null, lastAt: 0, retryAt: 0, inflight: false };
function showNote(text) {
  note.hidden = !text;
  note.textContent = text || "";
}
async function sendPosition() {
  const now = Date.now();
  if (writes.inflight || document.hidden || now < writes.retryAt) return;
  const pos = `${me.x.toFixed(3)},${me.y.toFixed(3)},${me.name},${me.color}`;
  if (pos === writes.last && now - writes.lastAt < 3000) return;
  writes.inflight = true;
  try {
    await post("/arena.json", { id: me.id, name: me.name, x: +me.x.toFixed(3), y: +me.y.toFixed(3), color: me.color });
    writes.last = pos;
    writes.lastAt = now;
    if (writes.state !== "ok") showNote("");
    writes.state = "ok";
  } catch (err) {
    const readOnly = err.status === 405 || err.status === 501; // no write path (yet), or a plain static host
    writes.state = readOnly ? "off" : "error";
    // A server without the write path answers 405: keep the page working
    // read-only and ask again now and then.
    writes.retryAt = Date.now() + (readOnly ? 10000 : 3000);
    showNote(readOnly
      ? `This server is read-only for now (POST answers ${err.status}): only you see your avatar.`
      : `Could not send your position (${err.status || "network"}: ${err.message}). Retrying…`);
  } finally {
    writes.inflight = false;
  }
}
let postTimer = setInterval(sendPosition, 200);
function retimePosts(period) {
  clearInterval(postTimer);
  postTimer = setInterval(sendPosition, period);
}

function initials(name) {
  const parts = name.split(/[\s\-_.]+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts[1] ? parts[1][0] : "")).toUpperCase();
}

let dpr = 1, W = 0, H = 0;
function resize() {
  const r = canvas.getBoundingClientRect();
  dpr = Math.min(window.devicePixelRatio || 1, 2);
  W = r.width;
  H = r.height;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
}
new ResizeObserver(resize).observe(canvas);
resize();

function avatar(p, self, t) {
  const x = p.x * W, y = p.y * H, r = Math.max(12, Math.min(22, W / 40));
  const g = ctx2d;
  if (self === true) {
    const pulse = (t / 900) % 1;
    g.beginPath();
    g.arc(x, y, r + 4 + pulse * 14, 0, Math.PI * 2);
    g.strokeStyle = `rgba(255,255,255,${0.45 * (1 - pulse)})`;
    g.lineWidth = 2;
    g.stroke();
  }
  g.beginPath();
  g.arc(x, y, r, 0, Math.PI * 2);
  g.fillStyle = p.color;
  g.shadowColor = "rgba(0,0,0,.45)";
  g.shadowBlur = 10;
  g.fill();
  g.shadowBlur = 0;
  if (self) {
    g.lineWidth = 3;
    g.strokeStyle = "#fff";
    if (self !== true) g.setLineDash([4, 4]); // another window of this browser
    g.stroke();
    g.setLineDash([]);
  }
  g.fillStyle = "#101216";
  g.font = `700 ${Math.round(r * 0.8)}px system-ui, sans-serif`;
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(initials(p.name), x, y + 1);
  const label = self === true ? `${p.name} (you)` : self ? `${p.name} (other tab)` : p.name;
  g.font = `${self ? 700 : 500} 12px system-ui, sans-serif`;
  const below = y + r + 14 < H;
  g.fillStyle = self ? "#fff" : "rgba(230,232,238,.85)";
  g.fillText(label, Math.min(Math.max(x, 50), W - 50), below ? y + r + 11 : y - r - 11);
}

function drawArena(t) {
  const g = ctx2d;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  const snap = arena.latest() ? arena.blend() : null;
  if (snap) for (const p of snap.players) if (p.id !== me.id) avatar(p, p.id.startsWith(browserId + "-") ? "twin" : false, t);
  avatar(me, true, t); // ours follows the pointer with no latency
}

// ---- chat -----------------------------------------------------------------

const list = $("messages"), form = $("say"), nameIn = $("say-name"), textIn = $("say-text"), sayStatus = $("say-status");
nameIn.value = me.name;
nameIn.addEventListener("change", () => {
  const v = nameIn.value.trim().slice(0, 24);
  if (!v) return (nameIn.value = me.name);
  me.name = v;
  try { localStorage.setItem("jawas.name", v); } catch {}
});

const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
function messageItem(m) {
  const li = document.createElement("li");
  li.dataset.id = m.id;
  if (m.from === browserId) li.className = "mine";
  const who = document.createElement("b");
  who.className = "who";
  who.textContent = m.name;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  const when = document.createElement("time");
  when.className = "when";
  when.textContent = fmtTime(m.time);
  li.append(who, " ", text, " ", when);
  return li;
}
// Server-rendered messages: mark ours and fill in local times.
for (const li of list.querySelectorAll("li[data-id]")) {
  if (li.dataset.from === browserId) li.className = "mine";
  const t = li.querySelector("time");
  if (t && +t.dataset.ms) t.textContent = fmtTime(+t.dataset.ms);
}

let shown = [...list.querySelectorAll("li[data-id]")].map((li) => li.dataset.id).join("|");
const chat = watch("/chat.json", (d) => {
  const ids = d.messages.map((m) => m.id).join("|");
  if (ids === shown) return;
  shown = ids;
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  list.replaceChildren(...(d.messages.length ? d.messages.map(messageItem) : [Object.assign(document.createElement("li"), { className: "empty", textContent: "No messages yet. Say hello." })]));
  if (atBottom) list.scrollTop = list.scrollHeight;
}, { onError });
list.scrollTop = list.scrollHeight;

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = textIn.value.trim();
  if (!text) return;
  const button = form.querySelector("button");
  button.disabled = true;
  sayStatus.className = "muted small";
  sayStatus.textContent = "Sending…";
  try {
    const r = await post("/chat.json", { id: browserId, name: me.name, text });
    textIn.value = "";
    const wait = r.visibleAt ? Math.max(0, r.visibleAt - Date.now()) : null;
    sayStatus.textContent = wait > 0
      ? `Accepted: visible to everyone in ${wait} ms, at the next period boundary.`
      : "Accepted: visible to everyone from the next snapshot.";
  } catch (err) {
    sayStatus.className = "small warn";
    sayStatus.textContent = err.status === 405 || err.status === 501
      ? `This server does not accept writes yet (${err.status}). Your message was not sent.`
      : `Not sent (${err.status || "network"}): ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

// ---- market (a source reading the demo's SQLite database) -------------------

const leaders = $("leaders"), marketTotals = $("market-totals");
function leaderItem(l) {
  const li = document.createElement("li");
  li.title = `${l.clan} · best sale: ${l.best}`;
  const who = Object.assign(document.createElement("b"), { className: "who", textContent: l.name });
  const credits = Object.assign(document.createElement("span"), { className: "credits", textContent: String(l.credits) });
  credits.append(Object.assign(document.createElement("small"), { textContent: " cr" }));
  const sales = Object.assign(document.createElement("span"), { className: "meta sales", textContent: `${l.sales} sales` });
  const clan = Object.assign(document.createElement("span"), { className: "meta clan", textContent: l.clan });
  li.append(who, credits, sales, clan);
  return li;
}
const market = watch("/market.json", (d) => {
  leaders.replaceChildren(...d.leaders.map(leaderItem));
  marketTotals.textContent = `${d.totals.sales} sales, ${d.totals.credits} credits, the last on ${d.totals.last.slice(0, 10)}`;
}, { onError });

// ---- live panel -----------------------------------------------------------

const watchers = [clock, arena, chat, market];
const stPeriod = $("st-period"), stAge = $("st-age"), stRps = $("st-rps"), st304 = $("st-304"), stDetail = $("st-detail");
const samples = []; // [time, requests] over the last 5 s
function sum(key) {
  return watchers.reduce((n, w) => n + w.stats[key], 0);
}
function updatePanel() {
  const now = performance.now(), req = sum("requests");
  samples.push([now, req]);
  while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
  const [t0, r0] = samples[0];
  if (now > t0) stRps.textContent = ((req - r0) / ((now - t0) / 1000)).toFixed(1);
  const fresh = sum("fresh"), nm = sum("notModified");
  if (fresh + nm) st304.textContent = Math.round((100 * nm) / (fresh + nm));
  stPeriod.textContent = clock.info() || !pagePeriod ? clock.period : pagePeriod;
  const info = clock.info();
  if (info && info.age != null) stAge.textContent = Math.round(info.age);
  stDetail.textContent = `${req} requests so far: ${fresh} new snapshots, ${nm} × 304 Not Modified, ${sum("errors")} errors.`;
  updateConn(watchers);
  if (arena.period !== curPostPeriod) retimePosts((curPostPeriod = arena.period));
}
let curPostPeriod = 200;
setInterval(updatePanel, 500);
updatePanel();

// ---- the animation loop ------------------------------------------------------

frame((t) => {
  drawArena(t);
  periodFill.style.transform = `scaleX(${clock.alpha()})`;
});

// Live reload when served by `jawas serve --dev`, which marks the page with
// <meta name="jawas-dev">.
if (document.querySelector('meta[name="jawas-dev"]')) connectDev();
