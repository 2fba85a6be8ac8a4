// A data source: served at /hello.json, evaluated once per period.
import { greet } from "./_lib/greet";

export const period = "1s";

// State survives between periods; writes (POST /hello.json) go through `post`.
export const initial = { visits: 0 };

export function post(state: { visits: number }, event: { body: unknown }) {
  state.visits++;
}

export default function render(state: { visits: number }, ctx: { now: Date }) {
  return {
    message: greet("world"),
    time: ctx.now.toISOString(),
    visits: state.visits,
  };
}
