export const initial = { done: [] };
// post spins for event.body.ms milliseconds, then records the event.
export function post(state, event) {
  const until = Date.now() + event.body.ms;
  while (Date.now() < until) {}
  state.done.push(event.id);
}
// put is async, which reducers must not be: its in-place change is rolled back.
export async function put(state, event) {
  state.done.push("async " + event.id);
}
export default (state) => state;
