export const period = -5;
export default () => 1;
