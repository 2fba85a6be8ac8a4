import { score } from "../_lib/helper";

interface Player { name: string; points: number[] }

export default function render(state: { players: Player[] }) {
  return { total: score(state.players.flatMap((p) => p.points)) };
}
