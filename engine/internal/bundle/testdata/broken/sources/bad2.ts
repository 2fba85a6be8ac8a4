import { nope } from "./_missing";
import { other } from "no-such-package";
export default () => nope + other;
