// A module-level counter beside the state: it lives as long as the runtime.
let calls = 0;
export const initial = { n: 0 };
export function post(state) { state.n++; }
export default function render(state, ctx) {
  calls++;
  if (ctx.nowMs % 2 === 1) {
    while (true) {} // odd boundaries overrun the budget
  }
  return { n: state.n, calls };
}
