// The shared arena: every visitor posts its pointer once per period; every
// visitor polls /arena.json and draws all players, interpolated at 60 fps.
// Identity is a random id the browser keeps; the server never personalises.
import { clamp, round3 } from "./_lib/geometry";
import { bodyOf, clientId, text, timeOf, WriteEvent } from "./_lib/event";

export const period = "200ms";

/** A player idle for longer than this disappears. */
const IDLE_MS = 10_000;

interface Player {
  id: string;
  name: string;
  x: number; // 0..1, fraction of the arena's width
  y: number; // 0..1, fraction of its height
  color: string;
  seen: number; // Unix ms of the last write
}

interface State {
  players: Record<string, Player>;
}

export const initial: State = { players: {} };

/** post records one position: body {id, name, x, y, color}. */
export function post(state: State, event: WriteEvent) {
  const b = bodyOf(event);
  const id = b && clientId(b.id);
  if (!b || !id) throw new Error("arena: body must be {id, name, x, y, color} with an id of 4-40 [A-Za-z0-9_-]");
  const time = timeOf(event);
  const color = typeof b.color === "string" && /^#[0-9a-fA-F]{6}$/.test(b.color) ? b.color.toLowerCase() : "#888888";
  state.players[id] = {
    id,
    name: text(b.name, 24) || "anonymous",
    x: round3(clamp(b.x, 0, 1)),
    y: round3(clamp(b.y, 0, 1)),
    color,
    seen: time,
  };
  // Forget idle players here too (deterministic: event time, not wall time),
  // so the state stays small however many visitors came and went.
  for (const p of Object.values(state.players)) {
    if (time - p.seen > IDLE_MS) delete state.players[p.id];
  }
}

export default function render(state: State, ctx: { nowMs: number; period: number }) {
  const players = Object.values(state.players)
    .filter((p) => ctx.nowMs - p.seen <= IDLE_MS)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { now: ctx.nowMs, period: ctx.period, count: players.length, players };
}
