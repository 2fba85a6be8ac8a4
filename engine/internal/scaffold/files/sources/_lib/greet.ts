// Files and folders starting with "_" are helpers: importable, never served.
export function greet(name: string): string {
  return `Hello, ${name}!`;
}
