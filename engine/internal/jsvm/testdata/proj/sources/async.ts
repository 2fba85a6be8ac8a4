const wait = (v: number): Promise<number> => Promise.resolve(v);

async function twice(v: number): Promise<number> {
  const a = await wait(v);
  const b = await wait(v);
  return a + b;
}

export default async function render(_state: unknown, ctx: { nowMs: number; source: string; periodMs: number }) {
  let total = 0;
  for (let i = 1; i <= 3; i++) total += await twice(i);
  const rejected = await Promise.reject(new Error("no")).catch((e: Error) => e.message);
  return { total, rejected, source: ctx.source, periodMs: ctx.periodMs, year: new Date(ctx.nowMs).getUTCFullYear() };
}
