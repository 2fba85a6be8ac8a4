export const period = "fast";
export default () => 1;
