export default function render() {
  const x = {
    a: 1,
  return x;
}
