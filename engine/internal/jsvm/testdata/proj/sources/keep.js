export const initial = { kept: [] };
// post keeps the events asked for, as they are, in the state.
export function post(state, event) {
  if (event.body.keep) state.kept.push(event);
}
export default (state) => state.kept.map((e) => e.id + ":" + e.body.n);
