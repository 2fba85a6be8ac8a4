export const version = 3;
export const initial = { items: [] };
export function migrate(old, from) {
  if (from === 1) return { items: old.list, from };
  if (from === 2) { old.from = from; return; }
  throw new Error("cannot migrate from version " + from);
}
export default function render(state) { return state; }
