export const initial = { n: 1 };
export function post(state) { state.n++; }
export default function render(state, ctx) {
  let spins = 0;
  while (ctx.nowMs % 2 === 1) {
    spins++;
  }
  return { n: state.n };
}
