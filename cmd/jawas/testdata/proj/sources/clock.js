// Changes every period: proves new snapshot versions reach the workers.
export default function render(state, ctx) {
  return { now: ctx.nowMs, tick: Math.floor(ctx.nowMs / ctx.period), period: ctx.period };
}
