/**
 * `ps --filter` as Docker applies it: `key=value` pairs; values of one key are alternatives (any
 * matches), different keys must all match. Keys: `status` (created|restarting|running|removing|
 * paused|exited|dead), `name` (a regular expression, against the name with its leading `/`),
 * `id` (an ID prefix), `label` (`k` or `k=v`), `ancestor` (an image name or ID; matches containers
 * of that image). An unknown key is `invalid filter 'x'`; a bad status value is
 * `Invalid filter 'status=x'`. Giving a status filter lists stopped containers too, as Docker.
 * `health` (starting|healthy|unhealthy|none: State.Health's Status; none without a health check
 * or before its first start); another value is `Unrecognised filter value for health: x`.
 */
import { TsbuildError } from '../errors.js';
import type { ImageCatalog } from '../image/store-roles.js';
import type { ContainerView } from './containers.js';
import { stateView } from './inspect.js';
import { stateName } from './status-text.js';
import { HEALTH_STATUSES } from './health.js';

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export interface PsFilter {
  (c: ContainerView): boolean;
  /** Whether the filter asks for states beyond "running" (`status=`), so `-a` is implied. */
  impliesAll: boolean;
}

export async function psFilter(specs: readonly string[], store: ImageCatalog): Promise<PsFilter> {
  const by = new Map<string, string[]>();
  for (const s of specs) {
    const eq = s.indexOf('=');
    if (eq < 0) throw new TsbuildError('USAGE', `bad format of filter (expected name=value)`);
    const key = s.slice(0, eq).toLowerCase();
    const value = s.slice(eq + 1);
    if (!['status', 'name', 'id', 'label', 'ancestor', 'health'].includes(key)) throw new TsbuildError('USAGE', `invalid filter '${key}'`);
    if (key === 'status' && !STATUSES.includes(value)) throw new TsbuildError('USAGE', `Invalid filter 'status=${value}'`);
    if (key === 'health' && !(HEALTH_STATUSES as readonly string[]).includes(value)) throw new TsbuildError('USAGE', `Unrecognised filter value for health: ${value}`);
    by.set(key, [...(by.get(key) ?? []), value]);
  }
  const names = (by.get('name') ?? []).map((n) => {
    try {
      return new RegExp(n);
    } catch {
      throw new TsbuildError('USAGE', `invalid filter 'name=${n}'`);
    }
  });
  // ancestor: an image name or ID, resolved to image IDs
  const ancestors = new Set<string>();
  for (const a of by.get('ancestor') ?? []) {
    const img = await store.getImage(a).catch(() => undefined);
    if (img) ancestors.add(img.id);
  }
  const ancestorWords = by.get('ancestor') ?? [];
  const f = ((c: ContainerView) => {
    const r = c.record;
    if (by.has('status') && !by.get('status')!.includes(stateName(stateView(c)))) return false;
    if (by.has('health') && !by.get('health')!.includes(c.health?.Status ?? 'none')) return false;
    if (names.length && !names.some((re) => re.test(`/${r.Name}`))) return false;
    if (by.has('id') && !by.get('id')!.some((p) => r.Id.startsWith(p))) return false;
    if (
      by.has('label') &&
      !by.get('label')!.every((l) => {
        const eq = l.indexOf('=');
        const k = eq < 0 ? l : l.slice(0, eq);
        return k in r.Config.Labels && (eq < 0 || r.Config.Labels[k] === l.slice(eq + 1));
      })
    )
      return false;
    if (ancestorWords.length && !ancestors.has(r.Image) && !ancestorWords.includes(r.Config.Image)) return false;
    return true;
  }) as PsFilter;
  f.impliesAll = by.has('status');
  return f;
}
