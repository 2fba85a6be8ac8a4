// The benchmark's data source: the same ~1 KB arena document the net/http
// baselines serve (bench/baselines/nethttp), evaluated once per 200 ms.
export const period = "200ms";

export default function render(state, ctx) {
  const now = ctx.now.getTime();
  const players = [];
  for (let i = 0; i < 14; i++) {
    players.push({
      id: "p" + i,
      name: "player-" + String(i).padStart(2, "0"),
      x: i * 12.5,
      y: i * i * 0.75,
      score: i * 100,
      alive: i % 3 !== 0,
    });
  }
  return { now, period_ms: 200, tick: Math.floor(now / 200), players };
}
