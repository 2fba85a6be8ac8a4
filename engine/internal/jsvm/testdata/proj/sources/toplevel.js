const config = { retries: 3 };

if (config.retries > 2) {
  throw new Error("top-level failure");
}
export default () => 1;
