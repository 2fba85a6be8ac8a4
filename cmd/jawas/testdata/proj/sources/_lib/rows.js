export function rows(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ id: i, name: "row number " + i, even: i % 2 === 0 });
  return out;
}
