export const version = 1.5;
export default function render() { return 1; }
