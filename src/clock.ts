/**
 * A nanosecond wall clock (the clock file timestamps and Docker's log times use): Date.now() at
 * start plus the monotonic clock since. A neutral module (like errors.ts): every floor may use it.
 * (Not `performance.timeOrigin + now()`: the first use of `performance` loads perf_hooks and a
 * dozen internal modules, a few ms of every build's start.)
 */
const baseWall = BigInt(Date.now()) * 1_000_000n;
const baseMono = process.hrtime.bigint();

/** Now, in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return baseWall + (process.hrtime.bigint() - baseMono);
}
