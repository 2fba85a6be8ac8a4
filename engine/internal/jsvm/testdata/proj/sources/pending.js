export const initial = { n: 1 };
export default async function render(state, ctx) {
  if (ctx.nowMs % 2 === 1) {
    await new Promise(() => {});
  }
  while (ctx.nowMs % 4 === 2) await null;
  return { n: state.n };
}
