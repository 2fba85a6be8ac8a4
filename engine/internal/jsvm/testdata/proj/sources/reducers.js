export const initial = { items: [], version: 0 };
// post changes the state in place.
export function post(state, event) {
  if (event.body.fail) {
    state.items.push("half-done");
    throw new Error("refused " + event.body.item);
  }
  if (event.body.loop) { state.items.push("looping"); while (true) {} }
  state.items.push(event.body.item);
  state.last = { id: event.id, method: event.method, t: event.timeMs, isDate: event.time instanceof Date, ua: event.headers["user-agent"] };
}
// put returns a new state.
export function put(state, event) {
  if (event.body.bad) return { f: () => 1 };
  return { items: event.body.items, version: state.version + 1 };
}
export default (state) => state;
