package jsvm

// This file implements the checked JSON encoding of results and state in
// JavaScript, because JSON.stringify silently drops functions and symbols
// (or turns them into null) and the author must hear about it instead.

import "github.com/dop251/goja"

// helperSrc evaluates to a factory that takes the original JSON.stringify
// (captured before the author's code runs) and returns toJSON(value, what,
// slot), which returns the JSON text of value or throws a TypeError that
// names what is wrong and where.
//
// The check visits every value through a replacer, which costs several
// times a plain stringify. So when slot is given, toJSON first stringifies
// plainly and, if the text equals the last checked text of that slot (the
// common case: a render whose output did not change this period), returns it
// without the check. Identical text means identical published bytes, so
// nothing unchecked is ever published; what is skipped is only an error for
// a value JSON would drop (a function beside otherwise unchanged data),
// which is then reported as soon as the output changes.
const helperSrc = `(function (stringify) {
  "use strict";
  const last = Object.create(null);
  function at(key) { return key === "" ? "" : " (at key " + stringify(String(key)) + ")"; }
  return function toJSON(value, what, slot) {
    if (value === undefined) {
      throw new TypeError(what + " is undefined; return a JSON value (object, array, string, number, boolean or null)");
    }
    if (slot !== undefined) {
      let plain;
      try { plain = stringify(value); } catch (e) { plain = undefined; }
      if (plain !== undefined && plain === last[slot]) {
        return plain;
      }
      const checked = toJSON(value, what);
      last[slot] = checked;
      return checked;
    }
    function check(key, v) {
      switch (typeof v) {
      case "function":
        throw new TypeError(what + " contains a function" + at(key) + ", which JSON cannot hold");
      case "symbol":
        throw new TypeError(what + " contains a symbol" + at(key) + ", which JSON cannot hold");
      case "bigint":
        throw new TypeError(what + " contains a BigInt" + at(key) + ", which JSON cannot hold; convert it with String(x) or Number(x)");
      }
      return v;
    }
    try {
      return stringify(value, check);
    } catch (e) {
      if (e instanceof TypeError && /circular/i.test(e.message)) {
        throw new TypeError(what + " contains a cycle (an object that contains itself), which JSON cannot hold");
      }
      throw e;
    }
  };
})`

// helperPrg is helperSrc compiled once; every runtime runs it.
var helperPrg = goja.MustCompile("jawas:json", helperSrc, true)
