// The web globals jsvm gives every source runtime, written in JavaScript
// where that is simplest (classes with spec behaviour), over host functions
// written in Go (web.go). It evaluates to a factory called once per runtime,
// before the author's code runs, with the host functions; it captures the
// built-ins it uses so an author replacing Promise or JSON cannot break it.
(function (host) {
  "use strict";
  const g = globalThis;
  const JSPromise = Promise;
  const resolved = JSPromise.resolve();
  const jsonParse = JSON.parse;
  const defineHidden = (o, name, value) =>
    Object.defineProperty(o, name, { value, writable: true, configurable: true, enumerable: false });
  const install = (name, value) => defineHidden(g, name, value);

  // --- DOMException, Event, EventTarget (as much as AbortSignal needs) ---
  class DOMException extends Error {
    constructor(message = "", name = "Error") {
      super(message);
      defineHidden(this, "name", String(name));
    }
  }
  class Event {
    constructor(type) { this.type = String(type); this.defaultPrevented = false; this.target = null; }
    preventDefault() { this.defaultPrevented = true; }
  }
  class EventTarget {
    constructor() { defineHidden(this, "_listeners", {}); }
    addEventListener(type, fn, opts) {
      if (typeof fn !== "function" && !(fn && typeof fn.handleEvent === "function")) return;
      const once = typeof opts === "object" && opts !== null && !!opts.once;
      const list = this._listeners[type] || (this._listeners[type] = []);
      if (!list.some((l) => l.fn === fn)) list.push({ fn, once });
    }
    removeEventListener(type, fn) {
      const list = this._listeners[type];
      if (list) this._listeners[type] = list.filter((l) => l.fn !== fn);
    }
    dispatchEvent(ev) {
      ev.target = this;
      const handler = this["on" + ev.type];
      if (typeof handler === "function") handler.call(this, ev);
      for (const l of (this._listeners[ev.type] || []).slice()) {
        if (l.once) this.removeEventListener(ev.type, l.fn);
        if (typeof l.fn === "function") l.fn.call(this, ev);
        else l.fn.handleEvent(ev);
      }
      return !ev.defaultPrevented;
    }
  }

  // --- AbortController / AbortSignal ---
  const secret = {};
  const doAbort = (signal, reason) => {
    if (signal._aborted) return;
    signal._aborted = true;
    signal._reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    signal.dispatchEvent(new Event("abort"));
  };
  class AbortSignal extends EventTarget {
    constructor(key) {
      if (key !== secret) throw new TypeError("Illegal constructor: use new AbortController().signal, AbortSignal.abort() or AbortSignal.timeout()");
      super();
      defineHidden(this, "_aborted", false);
      defineHidden(this, "_reason", undefined);
      this.onabort = null;
    }
    get aborted() { return this._aborted; }
    get reason() { return this._reason; }
    throwIfAborted() { if (this._aborted) throw this._reason; }
    static abort(reason) { const s = new AbortSignal(secret); doAbort(s, reason); return s; }
    static timeout(ms) {
      const s = new AbortSignal(secret);
      host.unrefTimeout(() => doAbort(s, new DOMException("The operation timed out (AbortSignal.timeout(" + ms + "))", "TimeoutError")), ms);
      return s;
    }
    static any(signals) {
      const s = new AbortSignal(secret);
      for (const x of signals) {
        if (x.aborted) { doAbort(s, x.reason); return s; }
      }
      for (const x of signals) x.addEventListener("abort", () => doAbort(s, x.reason), { once: true });
      return s;
    }
  }
  class AbortController {
    constructor() { defineHidden(this, "_signal", new AbortSignal(secret)); }
    get signal() { return this._signal; }
    abort(reason) { doAbort(this._signal, reason); }
  }

  // --- queueMicrotask, structuredClone ---
  function queueMicrotask(fn) {
    if (typeof fn !== "function") throw new TypeError("queueMicrotask: the argument must be a function");
    resolved.then(() => fn());
  }

  function structuredClone(value) {
    const seen = new Map();
    const fail = (v) => { throw new DOMException(Object.prototype.toString.call(v) + " could not be cloned", "DataCloneError"); };
    const clone = (v) => {
      if (typeof v === "function" || typeof v === "symbol") fail(v);
      if (typeof v !== "object" || v === null) return v;
      if (seen.has(v)) return seen.get(v);
      let out;
      if (Array.isArray(v)) {
        out = new Array(v.length);
        seen.set(v, out);
        for (const k of Object.keys(v)) out[k] = clone(v[k]);
        return out;
      }
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
      else if (v instanceof ArrayBuffer) out = v.slice(0);
      else if (v instanceof Boolean || v instanceof Number || v instanceof String) out = Object(v.valueOf());
      if (out !== undefined) { seen.set(v, out); return out; }
      if (ArrayBuffer.isView(v)) {
        const buf = clone(v.buffer);
        out = v instanceof DataView ? new DataView(buf, v.byteOffset, v.byteLength) : new v.constructor(buf, v.byteOffset, v.length);
        seen.set(v, out);
        return out;
      }
      if (v instanceof Map) {
        out = new Map();
        seen.set(v, out);
        v.forEach((val, key) => out.set(clone(key), clone(val)));
        return out;
      }
      if (v instanceof Set) {
        out = new Set();
        seen.set(v, out);
        v.forEach((val) => out.add(clone(val)));
        return out;
      }
      if (v instanceof Error) {
        const Ctor = { EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError }[v.name] || Error;
        out = new Ctor(v.message);
        seen.set(v, out);
        return out;
      }
      if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) fail(v);
      out = {};
      seen.set(v, out);
      for (const k of Object.keys(v)) out[k] = clone(v[k]);
      return out;
    };
    return clone(value);
  }

  // --- TextEncoder / TextDecoder (UTF-8, as in browsers) ---
  const bytesOf = (src, what) => {
    if (src instanceof ArrayBuffer) return src;
    if (ArrayBuffer.isView(src)) return src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength);
    throw new TypeError(what + ": expected an ArrayBuffer or a typed array");
  };
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return new Uint8Array(host.utf8Encode(String(input))); }
    encodeInto(input, dest) {
      const s = String(input);
      let read = 0, written = 0;
      for (const ch of s) {
        const b = new Uint8Array(host.utf8Encode(ch));
        if (written + b.length > dest.length) break;
        dest.set(b, written);
        written += b.length;
        read += ch.length;
      }
      return { read, written };
    }
  }
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const l = String(label).trim().toLowerCase();
      if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") {
        throw new RangeError("TextDecoder: only utf-8 is supported, not " + JSON.stringify(String(label)));
      }
      defineHidden(this, "_fatal", !!(options && options.fatal));
      defineHidden(this, "_ignoreBOM", !!(options && options.ignoreBOM));
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this._fatal; }
    get ignoreBOM() { return this._ignoreBOM; }
    decode(input) {
      if (input === undefined) return "";
      return host.utf8Decode(bytesOf(input, "TextDecoder.decode"), this._fatal, !this._ignoreBOM);
    }
  }

  // --- crypto.getRandomValues ---
  const intArrays = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    typeof BigInt64Array === "function" ? BigInt64Array : Int8Array, typeof BigUint64Array === "function" ? BigUint64Array : Uint8Array];
  function getRandomValues(view) {
    if (!intArrays.some((C) => view instanceof C)) {
      throw new DOMException("getRandomValues: expected an integer typed array", "TypeMismatchError");
    }
    if (view.byteLength > 65536) {
      throw new DOMException("getRandomValues: at most 65536 bytes, got " + view.byteLength, "QuotaExceededError");
    }
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(new Uint8Array(host.random(view.byteLength)));
    return view;
  }

  // --- Headers, Response, fetch ---
  const normName = (name) => {
    const n = String(name);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n)) throw new TypeError("Headers: invalid header name " + JSON.stringify(n));
    return n.toLowerCase();
  };
  const normValue = (v) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  class Headers {
    constructor(init) {
      defineHidden(this, "_list", []);
      if (init == null) return;
      if (init instanceof Headers) init._list.forEach(([k, v]) => this.append(k, v));
      else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
          this.append(p[0], p[1]);
        }
      } else if (typeof init === "object") for (const k of Object.keys(init)) this.append(k, init[k]);
      else throw new TypeError("Headers: expected an object, an array of [name, value] pairs or Headers");
    }
    append(name, value) { this._list.push([normName(name), normValue(value)]); }
    set(name, value) {
      const n = normName(name);
      this.delete(n);
      this._list.push([n, normValue(value)]);
    }
    delete(name) {
      const n = normName(name);
      this._list = this._list.filter((e) => e[0] !== n);
    }
    get(name) {
      const n = normName(name);
      const vs = this._list.filter((e) => e[0] === n).map((e) => e[1]);
      return vs.length ? vs.join(", ") : null;
    }
    getSetCookie() { return this._list.filter((e) => e[0] === "set-cookie").map((e) => e[1]); }
    has(name) { const n = normName(name); return this._list.some((e) => e[0] === n); }
    _sorted() {
      const names = [...new Set(this._list.map((e) => e[0]))].sort();
      const out = [];
      for (const n of names) {
        if (n === "set-cookie") this.getSetCookie().forEach((v) => out.push([n, v]));
        else out.push([n, this.get(n)]);
      }
      return out;
    }
    forEach(fn, thisArg) { for (const [k, v] of this._sorted()) fn.call(thisArg, v, k, this); }
    entries() { return this._sorted()[Symbol.iterator](); }
    keys() { return this._sorted().map((e) => e[0])[Symbol.iterator](); }
    values() { return this._sorted().map((e) => e[1])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
  }

  const emptyBody = new ArrayBuffer(0);
  const bodyBytes = (body, headers) => {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") {
      if (!headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
      return body;
    }
    if (body instanceof URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return body.toString();
    }
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return bytesOf(body, "body");
    throw new TypeError("fetch: body must be a string, an ArrayBuffer, a typed array or URLSearchParams; for JSON use JSON.stringify(value)");
  };

  class Response {
    constructor(body = null, init = {}) {
      const headers = new Headers(init.headers);
      let b = bodyBytes(body, headers);
      if (typeof b === "string") b = host.utf8Encode(b);
      defineHidden(this, "_body", b || emptyBody);
      defineHidden(this, "_used", false);
      this.status = init.status === undefined ? 200 : init.status | 0;
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = headers;
      this.url = "";
      this.redirected = false;
      this.type = "default";
    }
    get ok() { return this.status >= 200 && this.status <= 299; }
    get bodyUsed() { return this._used; }
    _take(what) {
      if (this._used) return JSPromise.reject(new TypeError("Response." + what + "(): the body was already read"));
      this._used = true;
      return JSPromise.resolve(this._body);
    }
    arrayBuffer() { return this._take("arrayBuffer").then((b) => b.slice(0)); }
    bytes() { return this._take("bytes").then((b) => new Uint8Array(b.slice(0))); }
    text() { return this._take("text").then((b) => host.utf8Decode(b, false, true)); }
    json() {
      const url = this.url;
      return this._take("json").then((b) => {
        const text = host.utf8Decode(b, false, true);
        try {
          return jsonParse(text);
        } catch (e) {
          throw new SyntaxError("Response.json(): the body of " + (url || "the response") + " is not JSON: " + e.message + " (it starts with " + JSON.stringify(text.slice(0, 60)) + ")");
        }
      });
    }
    clone() {
      if (this._used) throw new TypeError("Response.clone(): the body was already read");
      const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
      r._body = this._body;
      r.url = this.url;
      r.redirected = this.redirected;
      r.type = this.type;
      return r;
    }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), Object.assign({}, init, { headers }));
    }
    static error() { const r = new Response(null, { status: 0 }); r.type = "error"; return r; }
  }

  function fetch(input, init) {
    init = init || {};
    let url;
    if (typeof input === "string") url = input;
    else if (input instanceof URL) url = input.href;
    else if (input && typeof input.url === "string") url = input.url;
    else throw new TypeError("fetch: the first argument must be a URL string or a URL");
    const method = init.method === undefined ? "GET" : String(init.method).toUpperCase();
    const headers = new Headers(init.headers);
    const body = bodyBytes(init.body, headers);
    const signal = init.signal;
    if (signal != null && !(signal instanceof AbortSignal)) throw new TypeError("fetch: signal must be an AbortSignal");
    if (signal && signal.aborted) return JSPromise.reject(signal.reason);
    const redirect = init.redirect === undefined ? "follow" : String(init.redirect);
    if (redirect !== "follow" && redirect !== "manual" && redirect !== "error") {
      throw new TypeError("fetch: redirect must be \"follow\", \"manual\" or \"error\", not " + JSON.stringify(redirect));
    }
    const noStore = init.cache === "no-store" || init.cache === "reload" || init.cache === "no-cache";
    const call = host.fetch(url, method, headers._list, body, redirect, noStore);
    return new JSPromise((resolve, reject) => {
      let onAbort = null;
      if (signal) {
        onAbort = () => { call.abort(); reject(signal.reason); };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      const done = () => { if (onAbort) signal.removeEventListener("abort", onAbort); };
      call.promise.then((raw) => {
        done();
        const r = new Response(null, { status: raw.status, statusText: raw.statusText, headers: raw.headers });
        r._body = raw.body;
        r.url = raw.url;
        r.redirected = raw.redirected;
        r.type = "basic";
        resolve(r);
      }, (err) => { done(); reject(err); });
    });
  }

  // --- install ---
  install("DOMException", DOMException);
  install("Event", Event);
  install("EventTarget", EventTarget);
  install("AbortController", AbortController);
  install("AbortSignal", AbortSignal);
  install("queueMicrotask", queueMicrotask);
  install("structuredClone", structuredClone);
  install("TextEncoder", TextEncoder);
  install("TextDecoder", TextDecoder);
  install("Headers", Headers);
  install("Response", Response);
  install("fetch", fetch);
  g.crypto.getRandomValues = getRandomValues;
})
