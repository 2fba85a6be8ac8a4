// A helper that throws.
export function explode(what: string): never {
  const message: string = "kaboom: " + what;
  throw new Error(message);
}
