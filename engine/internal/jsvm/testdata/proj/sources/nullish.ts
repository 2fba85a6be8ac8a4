// nullish.ts reads properties of null and of undefined (goja words both
// "of undefined"); ctx.nowMs picks the case.
type Row = { name: string } | null;
export const initial = { rows: [null] as Row[], config: null as null | { depth: number } };
export default function render(state: typeof initial, ctx: { nowMs: number }) {
  if (ctx.nowMs === 1) return { depth: state.config.depth };
  if (ctx.nowMs === 2) return { name: state.rows[0].name };
  if (ctx.nowMs === 3) return { at: state.rows[1]["x"] };
  return { n: (ctx as any).missing.value };
}
