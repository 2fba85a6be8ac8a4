import leftpad from "leftpad";
export default () => ({ padded: leftpad("7", 3, "0") });
