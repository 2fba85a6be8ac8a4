// Types of what the jawas runtime gives a data source: the "jawas" module,
// the render context, and the web globals (the same shapes as in browsers;
// only these exist: there is no DOM, no Node API). Written by `jawas init`;
// the README's "What a source can use" says how each behaves.

declare module "jawas" {
  /** Reads a project file (path relative to the project; it may not leave it) as UTF-8 text. Cached by modification time. */
  export function readFile(path: string): Promise<string>;
  /** Reads and parses a project JSON file. */
  export function readJSON<T = any>(path: string): Promise<T>;
  /** An environment variable listed in jawas.toml's [env] allow; undefined when unset. Any other name throws. */
  export function env(name: string): string | undefined;
  /** The database declared in jawas.toml as [db.NAME] (url = "sqlite:data/app.db" or "postgres://…"). */
  export function db(name: string): Database;
  export interface Database {
    readonly name: string;
    /**
     * Runs sql with params bound to $1, $2, … (SQLite also takes ?), never
     * pasted into the text, in a read-only transaction. Resolves to plain row
     * objects, keys in the query's column order. Rejects with an Error
     * "db(\"NAME\").query: …" (a write, a missing table, the database down,
     * [db.NAME] statement_timeout, an undeclared NAME), reported at this
     * call's file:line; the render's budget cancels the query.
     */
    query<Row extends object = Record<string, SqlValue>>(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  }
  /**
   * A query parameter: null/undefined (NULL), a boolean, a number (integers
   * bound as integers), a string, a bigint (its decimal text), a Date (a UTC
   * time), bytes (ArrayBuffer or a typed array such as Uint8Array), or an
   * object or array (JSON text: in PostgreSQL write $1::jsonb).
   */
  export type SqlParam = null | undefined | boolean | number | bigint | string | Date | ArrayBuffer | ArrayBufferView | object;
  /**
   * A column value as a source sees it, the same for SQLite and PostgreSQL:
   * NULL → null; booleans; integers within ±(2^53−1) → number, beyond →
   * string of digits; floats → number (NaN, ±Infinity → "NaN", "Infinity",
   * "-Infinity"); numeric/decimal → string ("12.50"); timestamps → ISO
   * string in UTC ("2024-03-05T06:07:08.123Z"); dates → "2024-03-05";
   * bytes → base64 string; json/jsonb → the parsed value; anything else →
   * the database's text (arrays: arrays of mapped values).
   */
  export type SqlValue = null | boolean | number | string | SqlValue[] | { [key: string]: unknown };
}

/** The second argument of render(state, ctx). */
interface JawasRenderContext {
  /** The boundary being rendered (epoch-aligned). */
  now: Date;
  nowMs: number;
  /** The source's period in milliseconds. */
  period: number;
  periodMs: number;
  /** The source's name ("game/arena"). */
  source: string;
  /** The value this source last published, or null before its first. */
  previous: any;
}

// --- web globals ---
type BufferSource = ArrayBuffer | ArrayBufferView;
type HeadersInit = Headers | Record<string, string> | [string, string][];
type BodyInit = string | BufferSource | URLSearchParams;

declare class Headers {
  constructor(init?: HeadersInit);
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  getSetCookie(): string[];
  has(name: string): boolean;
  set(name: string, value: string): void;
  forEach(fn: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  signal?: AbortSignal | null;
  redirect?: "follow" | "manual" | "error";
  /** "no-store" (or "reload", "no-cache"): no revalidation with the last ETag/Last-Modified. */
  cache?: "default" | "no-store" | "reload" | "no-cache";
}

interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

declare class Response {
  constructor(body?: BodyInit | null, init?: ResponseInit);
  readonly status: number;
  readonly ok: boolean;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected: boolean;
  readonly type: string;
  readonly bodyUsed: boolean;
  text(): Promise<string>;
  json<T = any>(): Promise<T>;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  clone(): Response;
  static json(data: unknown, init?: ResponseInit): Response;
  static error(): Response;
}

/** Fetches over HTTP(S). HTTP error statuses resolve (ok: false); network errors, timeouts and refusals reject. */
declare function fetch(input: string | URL | { url: string }, init?: RequestInit): Promise<Response>;

declare class URLSearchParams {
  constructor(init?: string | Record<string, string> | [string, string][] | URLSearchParams);
  readonly size: number;
  append(name: string, value: string): void;
  delete(name: string, value?: string): void;
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string, value?: string): boolean;
  set(name: string, value: string): void;
  sort(): void;
  toString(): string;
  forEach(fn: (value: string, name: string, params: URLSearchParams) => void, thisArg?: unknown): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

declare class URL {
  constructor(url: string | URL, base?: string | URL);
  hash: string;
  host: string;
  hostname: string;
  href: string;
  readonly origin: string;
  password: string;
  pathname: string;
  port: string;
  protocol: string;
  search: string;
  readonly searchParams: URLSearchParams;
  username: string;
  toString(): string;
  toJSON(): string;
}

declare class Event {
  constructor(type: string);
  readonly type: string;
  readonly target: EventTarget | null;
  readonly defaultPrevented: boolean;
  preventDefault(): void;
}

declare class EventTarget {
  addEventListener(type: string, listener: (ev: Event) => void, options?: { once?: boolean }): void;
  removeEventListener(type: string, listener: (ev: Event) => void): void;
  dispatchEvent(ev: Event): boolean;
}

declare class AbortSignal extends EventTarget {
  readonly aborted: boolean;
  readonly reason: any;
  onabort: ((ev: Event) => void) | null;
  throwIfAborted(): void;
  static abort(reason?: any): AbortSignal;
  /** Aborts with a TimeoutError after ms milliseconds. */
  static timeout(ms: number): AbortSignal;
  static any(signals: AbortSignal[]): AbortSignal;
}

declare class AbortController {
  readonly signal: AbortSignal;
  abort(reason?: any): void;
}

declare class DOMException extends Error {
  constructor(message?: string, name?: string);
}

declare class TextEncoder {
  readonly encoding: "utf-8";
  encode(input?: string): Uint8Array;
  encodeInto(input: string, dest: Uint8Array): { read: number; written: number };
}

declare class TextDecoder {
  constructor(label?: "utf-8" | "utf8", options?: { fatal?: boolean; ignoreBOM?: boolean });
  readonly encoding: "utf-8";
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: BufferSource): string;
}

declare function structuredClone<T>(value: T): T;
declare function atob(data: string): string;
declare function btoa(data: string): string;
declare function queueMicrotask(fn: () => void): void;

/** Timers run only while a render (or the top level) is running; pending ones are dropped when it ends. Not in reducers. */
declare function setTimeout(fn: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function setInterval(fn: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function clearTimeout(id: number | undefined): void;
declare function clearInterval(id: number | undefined): void;

declare var crypto: {
  randomUUID(): string;
  getRandomValues<T extends ArrayBufferView>(array: T): T;
};

declare var performance: {
  now(): number;
  readonly timeOrigin: number;
};

declare var console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
