import { explode } from "./_lib/boom";

type State = { armed: boolean } | null;

export default function render(state: State) {
  if (state?.armed) {
    explode("armed");
  }
  return { ok: true };
}
