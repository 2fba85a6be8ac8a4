// The e2e tests rewrite this file and SIGHUP the server to see new code.
export default function render() {
  return { version: "v1" };
}
