console.info("loaded");
export default function render(state, ctx) {
  console.log("rendering", ctx.source, { a: 1 }, [1, 2], 3, undefined, null);
  console.warn("careful");
  console.error(new Error("shown"));
  console.debug("details");
  return 1;
}
