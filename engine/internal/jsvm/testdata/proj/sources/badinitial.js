export const initial = { at: Symbol("x") };
export default () => 1;
