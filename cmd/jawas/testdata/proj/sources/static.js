// The same bytes every period (stable ETag), large enough to be
// precompressed: used for 304s and for gzip/br bodies.
import { rows } from "./_lib/rows.js";

export default function render() {
  return { kind: "static", rows: rows(200) };
}
