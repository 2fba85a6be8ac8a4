import { shout } from "tinypkg";
export default () => ({ said: shout("hi") });
