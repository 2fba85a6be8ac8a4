package jsvm

// This file implements the checked JSON encoding of results and state in
// JavaScript, because JSON.stringify silently drops functions and symbols
// (or turns them into null) and the author must hear about it instead.

import "github.com/dop251/goja"

// helperSrc evaluates to a factory that takes the original JSON.stringify
// (captured before the author's code runs) and returns toJSON(value, what),
// which returns the JSON text of value or throws a TypeError that names what
// is wrong and where.
const helperSrc = `(function (stringify) {
  "use strict";
  function at(key) { return key === "" ? "" : " (at key " + stringify(String(key)) + ")"; }
  return function toJSON(value, what) {
    if (value === undefined) {
      throw new TypeError(what + " is undefined; return a JSON value (object, array, string, number, boolean or null)");
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
