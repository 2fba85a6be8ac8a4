export const period = "1s";
export default function render(state, ctx) {
  return { now: ctx.nowMs };
}
