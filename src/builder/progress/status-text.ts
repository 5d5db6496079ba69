/** BuildKit's text for an item of a step: `sha256:ab… 1.05MB / 2.1MB`, sizes as Docker prints them. */
export function statusText(e: { item: string; current?: number; total?: number }, size: (n: number) => string): string {
  if (e.current === undefined) return e.item;
  return e.total ? `${e.item} ${size(e.current)} / ${size(e.total)}` : `${e.item} ${size(e.current)}`;
}
