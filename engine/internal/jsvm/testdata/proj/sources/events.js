// events.js probes the event object a reducer gets (a host object, see
// engine/internal/jsvm/event.go) beside a plain object built from the same fields:
// everything a reducer can observe must match, except Object.freeze.
function plain(e) {
  const h = {};
  for (const k of Object.keys(e.headers)) {
    Object.defineProperty(h, k, { value: e.headers[k], writable: true, enumerable: true, configurable: true });
  }
  return { id: e.id, method: e.method, time: new Date(e.timeMs), timeMs: e.timeMs, committed: new Date(e.committedMs), committedMs: e.committedMs, body: JSON.parse(JSON.stringify(e.body)), headers: h };
}

function probe(e) {
  const d = {};
  d.json = JSON.stringify(e);
  d.keys = Object.keys(e);
  d.spread = JSON.stringify({ ...e });
  d.assign = JSON.stringify(Object.assign({}, e));
  d.forIn = [];
  for (const k in e) d.forIn.push(k);
  d.has = ["id" in e, e.hasOwnProperty("body"), "nope" in e, "toString" in e];
  d.sameDate = e.time === e.time;
  d.isDate = e.time instanceof Date && e.time.getTime() === e.timeMs;
  d.isCommittedDate = e.committed instanceof Date && e.committed.getTime() === e.committedMs;
  d.desc = Object.getOwnPropertyDescriptor(e, "id");
  d.headerNames = Object.keys(e.headers);
  d.protoHeader = Object.prototype.hasOwnProperty.call(e.headers, "__proto__");
  d.typeOf = typeof e;
  d.proto = Object.getPrototypeOf(e) === Object.prototype;
  d.str = String(e);
  e.extra = 1;
  e.id = "changed";
  delete e.method;
  e.time.setTime(0);
  e.headers.added = "yes";
  d.after = JSON.stringify(e);
  d.afterKeys = Object.keys(e);
  d.missing = e.method === undefined && !("method" in e);
  e.method = "BACK";
  d.back = Object.keys(e);
  return d;
}

export const initial = { seen: [] };
export function post(state, event) {
  const p = plain(event);
  const host = probe(event);
  let freeze;
  try {
    Object.freeze(event);
    freeze = "frozen";
  } catch (err) {
    freeze = err instanceof TypeError ? "TypeError" : String(err);
  }
  state.seen.push({ host, plain: probe(p), freeze });
  state.kept = event;
}
export default (state) => state;
