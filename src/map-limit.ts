/**
 * Bounded parallelism, the one copy (pulls, pushes, cache exports, `save`'s gzip, the context's
 * digests). Floor-neutral like errors.ts: every floor may use it.
 */

/**
 * `Promise.all(items.map(fn))` with at most `limit` calls in flight, results in input order.
 * Rejects with the first failure and starts nothing after it (calls already running finish).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
