// Types for the jawas browser client (/_jawas/client.js).

/** Host functions the client uses; inject fakes in tests. */
export interface Env {
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
  /** Wall-clock ms (epoch-aligned); default Date.now. */
  now?: () => number;
  setTimeout?: (f: () => void, ms: number) => unknown;
  clearTimeout?: (id: unknown) => void;
  requestAnimationFrame?: (f: (t: number) => void) => unknown;
  cancelAnimationFrame?: (id: unknown) => void;
  /** Something with `hidden` and add/removeEventListener("visibilitychange"); null for none. */
  document?: { hidden: boolean; addEventListener?: Function; removeEventListener?: Function } | null;
  /** Returns a number in [0,1); default Math.random. */
  random?: () => number;
  /** SHA-256 of bytes; default crypto.subtle.digest (secure contexts only: without it no patches are asked for). */
  digest?: (bytes: Uint8Array) => Promise<ArrayBuffer>;
}

export interface WatchOptions extends Env {
  /** Period (ms) used until the server sends X-Jawas-Period; default 1000. */
  period?: number;
  /** Fraction of the period after each boundary at which this client fetches; default random in [0.05, 0.95). */
  phase?: number;
  /** Backoff base (ms) after a failure; default the period. */
  backoff?: number;
  /** Backoff cap (ms); default 30000. */
  maxBackoff?: number;
  /** Delay (ms) before the first fetch; default 0. */
  delay?: number;
  /** Data to show at once (e.g. server-rendered into the page) before the first fetch. */
  initial?: unknown;
  /** Ask for patches from the version held (A-IM: splice, answered 226) instead of the full body; default true. */
  deltas?: boolean;
  /** Called on each failed fetch, with the consecutive failure count and the backoff delay chosen. */
  onError?: (err: Error & { status?: number }, retry: { failures: number; delay: number }) => void;
}

export interface SnapshotInfo {
  etag: string | null;
  /** The source's period in ms. */
  period: number;
  /** Local time (ms) of the period boundary this snapshot belongs to (earlier by X-Jawas-Stale when the engine lags). */
  boundary?: number;
  /** ms between that boundary and the moment the response arrived. */
  age?: number;
  /** Local time (ms) the response arrived. */
  received?: number;
  status?: number;
  /** True for opts.initial. */
  initial?: boolean;
}

export interface WatchStats {
  requests: number;
  /** 200 and 226 responses with a new version. */
  fresh: number;
  /** 304 responses (ETag matched). */
  notModified: number;
  errors: number;
  /** 226 responses: patches applied and checked against the ETag. */
  patched: number;
  /** Patches that did not rebuild the version the ETag names: dropped, the snapshot refetched in full. */
  patchFailures: number;
}

export interface Watcher<T = any> {
  readonly stats: WatchStats;
  /** The current period in ms (from X-Jawas-Period once known). */
  readonly period: number;
  /** Consecutive failed fetches (network errors, non-2xx/304); 0 when healthy. */
  readonly failures: number;
  /** The newest delivered snapshot, or undefined before the first. */
  latest(): T | undefined;
  info(): SnapshotInfo | undefined;
  /** 0→1 over one period after the newest snapshot was delivered. */
  alpha(t?: number): number;
  /** The previous and newest snapshots interpolated at alpha(t). */
  blend(t?: number): T;
  /** Interpolate one value, picked by a getter or a dotted path ("players.0.x"). */
  lerp<V = any>(get: string | ((snapshot: T) => V), t?: number): V;
  /** Fetch now (no-op while a fetch is in flight). */
  refresh(): void;
  stop(): void;
}

export function watch<T = any>(
  url: string,
  onData?: (data: T, info: SnapshotInfo) => void,
  opts?: WatchOptions,
): Watcher<T>;

/** Blend numbers of b from a at t; objects by key, arrays by index or by item `id`; other values snap to b. */
export function interpolate<T>(a: unknown, b: T, t: number): T;

/** Call cb on every animation frame; returns a function that stops it. */
/** Applies a patch in the "splice" format (IM: splice) to the bytes a. Throws on a malformed patch. */
export function splice(a: Uint8Array, patch: Uint8Array): Uint8Array;

export function frame(cb: (t: number) => void, opts?: Env): () => void;

/** Call render(blended, alpha) every animation frame once w has data; returns a stop function. */
export function animate<T>(w: Watcher<T>, render: (blended: T, alpha: number) => void, opts?: Env): () => void;

export interface WriteResult {
  /** The write's id, from the server's 202 body. */
  id?: string;
  /** Unix ms when the write becomes visible (the next period boundary). */
  visibleAt?: number;
  status: number;
  /** With `wait: true`: the reducer applied it. */
  applied?: true;
  /** With `wait: true`: Unix ms of the boundary whose snapshot first has it. */
  boundary?: number;
}

/**
 * Error from post/put: the server's message, with its HTTP status (0 when the network failed).
 * With `wait: true`, after a 202: `state` says why ("rejected": the message is what the
 * reducer threw, `reason` the server's full reason with file:line; "expired", "unknown";
 * "pending": not applied within `timeout`).
 */
export interface WriteError extends Error {
  status: number;
  body?: unknown;
  id?: string;
  state?: "rejected" | "expired" | "unknown" | "pending";
  reason?: string;
}

export interface WriteOptions extends Env {
  headers?: Record<string, string>;
  /** Resolve only once the reducer applied the write; reject with its reason if it threw. Polls the event's status once per period. */
  wait?: boolean;
  /** With `wait`: give up (state "pending") after this many ms; default 30 s, at least 20 periods. */
  timeout?: number;
  /** With `wait`: polling period when the server does not say (ms, default 1000). */
  period?: number;
}

export function post(url: string, body: unknown, opts?: WriteOptions): Promise<WriteResult>;
export function put(url: string, body: unknown, opts?: WriteOptions): Promise<WriteResult>;

/** An author's error as dev mode reports it (an engine.Diagnostic). */
export interface Diagnostic {
  file?: string;
  line?: number;
  column?: number;
  message: string;
  frame?: string;
}

export interface DevOptions extends Env {
  /** default "/_jawas/dev.json" */
  url?: string;
  /** instead of location.reload() when the build changes */
  onReload?: () => void;
  /** instead of the built-in overlay; called with [] when every error is fixed */
  onErrors?: (errors: Diagnostic[]) => void;
}

/**
 * Live reload for `jawas serve --dev`: polls /_jawas/dev.json once per period,
 * reloads the page when its `build` changes, shows its `errors` in an overlay
 * (#jawas-dev-overlay) until fixed. Idempotent: later calls return the first watcher.
 */
export function connectDev(opts?: DevOptions): Watcher<{ build: number; errors: Diagnostic[] }>;
