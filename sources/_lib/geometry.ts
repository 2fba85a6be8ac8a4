// Geometry helpers for the arena. Files under _lib are importable by sources
// but never served themselves.

/** clamp returns v limited to [lo, hi]; NaN and non-numbers become lo. */
export function clamp(v: unknown, lo: number, hi: number): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n)) return lo;
  return n < lo ? lo : n > hi ? hi : n;
}

/** round3 keeps three decimals: positions are fractions of the arena. */
export function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
