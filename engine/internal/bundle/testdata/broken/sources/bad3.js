import { readFileSync } from "node:fs";
export default () => ({ text: readFileSync("x", "utf8") });
