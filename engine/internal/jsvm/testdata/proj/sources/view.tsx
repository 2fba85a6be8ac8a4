const React = {
  createElement: (tag: string | ((p: any) => unknown), props: Record<string, unknown> | null, ...children: unknown[]): unknown =>
    typeof tag === "function" ? tag({ ...props, children }) : { tag, props, children },
};
interface Props { who: string }
const Hello = ({ who }: Props) => <b>{who}</b>;
export default function render(state: { who: string }) {
  return <p id="x"><Hello who={state.who} /></p>;
}
export const initial: { who: string } = { who: "world" };
