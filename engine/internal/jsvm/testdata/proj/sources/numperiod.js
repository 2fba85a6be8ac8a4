export const period = 250;
export default () => 1;
