export const initial = { players: Array.from({ length: 18 }, (_, i) => ({ id: i, name: "player" + i, x: i * 3, y: i * 7, alive: true })) };
export default function render(state, ctx) {
  return { t: ctx.nowMs, players: state.players.map((p) => ({ id: p.id, name: p.name, pos: [p.x, p.y], alive: p.alive })) };
}
