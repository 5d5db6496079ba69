/**
 * `created_by` texts for image history, spelled as BuildKit spells them (checked against Docker:
 * `docker history --no-trunc`), so `tsbuild history` reads like `docker history`:
 *   RUN |1 X=1 /bin/sh -c echo $X # buildkit      COPY a.txt . # buildkit      WORKDIR /app
 *   ENV FOO=bar      EXPOSE map[80/udp:{} 8080/tcp:{}]      CMD ["sh"]      SHELL [/bin/sh -ec]
 *   HEALTHCHECK {Test:[CMD-SHELL true] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}
 * HEALTHCHECK follows current BuildKit (0.30+, Dockerfile frontend 1.24+, `%+v` of the config);
 * Docker 25-28 printed `&{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x00'}` and 20.10 the same
 * without the start interval: the text differs with every Docker generation (see the README).
 * Pure.
 */
import { goQuoteList } from '../parser/go-quote.js';
import type { HealthConfig } from '../image/config.js';

/** `RUN` with the build args it saw (`|N k=v ...`) and the final argv. */
export function runHistory(argv: readonly string[], buildArgs: ReadonlyArray<[string, string]>): string {
  const prefix = buildArgs.length ? [`|${buildArgs.length}`, ...buildArgs.map(([k, v]) => `${k}=${v}`)] : [];
  return `RUN ${[...prefix, ...argv].join(' ')} # buildkit`;
}

export function copyHistory(isAdd: boolean, sources: readonly string[], dest: string): string {
  return `${isAdd ? 'ADD' : 'COPY'} ${[...sources, dest].join(' ')} # buildkit`;
}

/** Go's `%v` of a []string: `[a b c]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

/** Go's `%v` of map[string]struct{}: keys sorted, `map[80/tcp:{} 81/udp:{}]`. */
export function goSetMap(keys: Iterable<string>): string {
  return `map[${[...new Set(keys)].sort().map((k) => `${k}:{}`).join(' ')}]`;
}

export function execHistory(kind: 'CMD' | 'ENTRYPOINT', argv: readonly string[]): string {
  return `${kind} ${goQuoteList(argv)}`;
}

/** Go's `%+v` of the HealthcheckConfig value: field names, values unquoted, durations as Go prints them. */
export function healthcheckHistory(h: HealthConfig): string {
  const d = (ns: number | undefined) => goDuration(ns ?? 0);
  return `HEALTHCHECK {Test:${goList(h.Test ?? [])} Interval:${d(h.Interval)} Timeout:${d(h.Timeout)} StartPeriod:${d(h.StartPeriod)} StartInterval:${d(h.StartInterval)} Retries:${h.Retries ?? 0}}`;
}

/** Go's time.Duration.String(): `1h2m3.5s`, `1.5ms`, `0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFloat(n / div)}${unit}`;
  } else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trimFloat(n / 1e9)}s`;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(x: number): string {
  return String(Number(x.toFixed(9)));
}
