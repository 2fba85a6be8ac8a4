const React = { createElement: (tag: string, props: any, ...children: any[]) => ({ tag, props, children }) };
export default function render() {
  return <div class="x">hello {1 + 1}</div>;
}
