let spins = 0;
while (true) { spins++; }
export default () => spins;
