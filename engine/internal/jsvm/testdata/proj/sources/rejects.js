export default async function render() {
  await null;
  throw new RangeError("late failure");
}
