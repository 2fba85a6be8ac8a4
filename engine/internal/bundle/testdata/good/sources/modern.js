class Counter {
  count = 1;
  #secret = 41;
  static zero = 0;
  get answer() { return this.#secret + this.count; }
}
export default function render(state) {
  const c = new Counter();
  const deep = state?.a?.b ?? "fallback";
  const spread = { ...{ x: 1 }, y: 2 };
  const big = (2n ** 64n).toString();
  return { answer: c.answer, zero: Counter.zero, deep, spread, big };
}
