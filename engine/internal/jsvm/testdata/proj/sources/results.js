export const initial = { kind: "ok" };
export default function render(state) {
  switch (state.kind) {
    case "undefined": return undefined;
    case "function": return () => 1;
    case "symbol": return Symbol("s");
    case "nested-function": return { list: [1, { f() {} }] };
    case "bigint": return { big: 10n };
    case "cycle": { const a = { name: "a" }; a.self = a; return a; }
    case "big": return { s: "x".repeat(2000) };
    case "recurse": { const f = (n) => f(n + 1) + 1; return f(0); }
    default: return { kind: state.kind, when: new Date(0), skipped: undefined, nan: NaN };
  }
}
