// The founding example: a clock everyone shares. Served at /clock.json and
// evaluated at most once per period, so every visitor in the same 200 ms
// sees the same bytes (and gets a 304 for them the second time).
export const period = "200ms";

export default function render(state, ctx) {
  const iso = ctx.now.toISOString();
  return {
    now: ctx.nowMs, // the period's boundary, Unix ms
    iso,
    time: iso.slice(11, 21), // "HH:MM:SS.s" UTC, for server-rendered HTML
    date: iso.slice(0, 10),
    tick: Math.floor(ctx.nowMs / ctx.period), // periods since the epoch
    period: ctx.period,
    source: ctx.source,
  };
}
