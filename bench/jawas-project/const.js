// The capacity table's like-for-like jawas row: the same ~1 KB arena
// document as bench.js, but constant (same bytes every period, so the same
// ETag and 304s for polling clients, as nginx gives for its static file).
export const period = "200ms";

export default function render() {
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
  return { now: 0, period_ms: 200, tick: 0, players };
}
