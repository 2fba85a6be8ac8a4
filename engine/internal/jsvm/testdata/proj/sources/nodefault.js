export const period = "1s";
export function render() { return 1; }
