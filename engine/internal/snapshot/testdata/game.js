// The deltas goal workload: 1,000 entities (~100 KB of JSON); each period
// 1% of them (10) move and lose some hp, and every 10th period one leaves
// and another joins. Deterministic (its own generator), so runs compare.
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const teams = ["red", "blue", "green", "gold"];
const r2 = (x) => Math.round(x * 100) / 100;
let next = 0;
const mk = () => {
  const id = next++;
  return {
    id, name: "unit-" + String(id).padStart(4, "0"), team: teams[id % 4],
    x: r2(rnd() * 1000), y: r2(rnd() * 1000), vx: r2(rnd() * 2 - 1), vy: r2(rnd() * 2 - 1),
    hp: 100, level: 1 + (id % 7), alive: true,
  };
};
const entities = Array.from({ length: 1000 }, mk);
let tick = 0;
export default function render() {
  tick++;
  for (let k = 0; k < 10; k++) {
    const e = entities[Math.floor(rnd() * entities.length)];
    e.x = r2(e.x + e.vx * 10);
    e.y = r2(e.y + e.vy * 10);
    e.hp = Math.max(0, e.hp - Math.floor(rnd() * 5));
  }
  if (tick % 10 == 0) {
    entities.splice(Math.floor(rnd() * entities.length), 1);
    entities.push(mk());
  }
  return { tick, entities };
}
