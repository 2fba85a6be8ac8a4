export default () => Object.getOwnPropertyNames(globalThis).sort();
