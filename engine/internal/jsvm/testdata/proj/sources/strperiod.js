export const period = "1.5s";
export default () => 1;
