// Allocates without end within one call: the memory guard must stop it.
let kept = [];
export default function render(state, ctx) {
  if (ctx.nowMs % 2 === 1) {
    const hog = [];
    for (;;) hog.push(new Array(4096).fill(ctx.nowMs));
  }
  kept.push(1);
  return { kept: kept.length };
}
