// Helpers for reducers: read a write's body and time whatever the server
// hands over (parsed JSON or text; a Date, Unix ms or an RFC 3339 string).

export interface WriteEvent {
  id?: string;
  body: unknown;
  time: Date | number | string;
  timeMs?: number;
  headers?: Record<string, string>;
}

/** bodyOf returns the event body as an object, or null when it is not one. */
export function bodyOf(event: WriteEvent): Record<string, unknown> | null {
  let b = event.body;
  if (typeof b === "string") {
    try {
      b = JSON.parse(b);
    } catch {
      return null;
    }
  }
  return b && typeof b === "object" && !Array.isArray(b) ? (b as Record<string, unknown>) : null;
}

/** timeOf returns the event's time in Unix ms, to the millisecond. */
export function timeOf(event: WriteEvent): number {
  if (typeof event.timeMs === "number") return event.timeMs;
  const t = event.time instanceof Date ? event.time.getTime() : typeof event.time === "number" ? event.time : Date.parse(event.time);
  return Number.isFinite(t) ? t : 0;
}

/** text returns s as a trimmed single-line string of at most max characters. */
export function text(s: unknown, max: number): string {
  if (typeof s !== "string") return "";
  return Array.from(s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()).slice(0, max).join("");
}

/** clientId accepts the random id a browser keeps in localStorage. */
export function clientId(s: unknown): string | null {
  return typeof s === "string" && /^[A-Za-z0-9_-]{4,40}$/.test(s) ? s : null;
}
