/**
 * `commit`: a container's changes become a new image, as `docker commit` makes it (moby
 * daemon/commit.go):
 * - one layer from the writable layer (the runtime's upper-dir diff and the image layer writer,
 *   whiteouts and opaque dirs included; the bound /etc/hosts, hostname and resolv.conf left out),
 *   on top of the image's layers; no change: no layer, the history entry is an empty_layer;
 * - the config is the container's (Env, Cmd, Healthcheck, Entrypoint, WorkingDir, User, ...), then the
 *   `-c` changes (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR);
 * - history gains {created, created_by: the container's Cmd joined by spaces, author (-a),
 *   comment (-m)}; the image's `author` is -a, `container` the container's ID.
 * - a running container is paused (the cgroup freezer) while its writable layer is read and written
 *   into the layer, so the layer is one moment's state, and thawed again however that ends
 *   (Docker's `--pause`, on by default; `-p=false` reads it running); one the user paused stays so.
 */
import { TsbuildError } from '../errors.js';
import type { ContainerConfig, ImageConfig } from '../image/config.js';
import { writeLayer } from '../image/layer-writer.js';
import type { StoredImage } from '../image/store.js';
import { diffUpperDir } from '../runtime/diff.js';
import type { Containers } from './containers.js';
import { withPaused } from './pause.js';
import { ETC_FILES } from './record.js';

export interface CommitOptions {
  /** REPOSITORY[:TAG] */
  tag?: string;
  message?: string;
  author?: string;
  /** `-c` Dockerfile instructions. */
  changes: string[];
  /** Docker's `--pause` (default true): freeze a running container while its layer is read. */
  pause?: boolean;
  /** For tests: the creation time; a hook run just before the layer is read (frozen or not). */
  now?: Date;
  beforeRead?: () => void | Promise<void>;
}

const MOUNTED = new Set(ETC_FILES.map((n) => `etc/${n}`));

export async function commitContainer(c: Containers, word: string, o: CommitOptions): Promise<StoredImage> {
  const v = await c.find(word);
  const image = await c.store.getImage(v.record.Image);
  if (!image) throw new TsbuildError('NOT_FOUND', `No such image: ${v.record.Image}`, undefined, 1);
  const cfg: ContainerConfig = { ...(image.config.config ?? {}) };
  const rc = v.record.Config;
  // the container's config, as Docker's commit takes it (its Hostname/Image are not image config)
  for (const k of ['User', 'Env', 'Cmd', 'Healthcheck', 'Entrypoint', 'WorkingDir', 'Labels', 'StopSignal', 'ExposedPorts', 'Volumes', 'OnBuild'] as const) {
    const val = (rc as unknown as Record<string, unknown>)[k];
    if (val !== undefined) (cfg as Record<string, unknown>)[k] = val;
  }
  for (const ch of o.changes) applyChange(cfg, ch);

  const { lowerDirs, upperDir: upper } = c.layer(v.record);
  const layers = image.manifest.layers.map((l) => ({ digest: l.digest, size: l.size }));
  const empty = await withPaused(v, o.pause ?? true, async () => {
    await o.beforeRead?.();
    const entries = (await diffUpperDir(upper, { lowerDirs })).filter((e) => !MOUNTED.has(e.path.replace(/^\/+|\/+$/g, '')));
    // /etc alone (copied up for the mount stubs only) is no change either
    const changed = entries.filter((e) => !(e.path.replace(/^\/+|\/+$/g, '') === 'etc' && e.type === 'dir' && !entries.some((x) => x.path.replace(/^\/+/, '').startsWith('etc/'))));
    if (changed.length) layers.push(await writeLayer(c.store, changed));
    return changed.length === 0;
  });
  const created = (o.now ?? new Date()).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
  const config: ImageConfig = {
    ...image.config,
    created,
    config: cfg,
    container: v.record.Id,
    history: [
      ...(image.config.history ?? []),
      {
        created,
        created_by: (rc.Cmd ?? []).join(' '),
        ...(o.author ? { author: o.author } : {}),
        ...(o.message ? { comment: o.message } : {}),
        ...(empty ? { empty_layer: true } : {}),
      },
    ],
  };
  if (o.author) config.author = o.author;
  else delete config.author;
  return c.store.putImage({ config, layers, ...(o.tag ? { tags: [o.tag] } : {}) });
}

/** One `-c` change: a Dockerfile instruction of the kinds Docker's commit allows. */
export function applyChange(cfg: ContainerConfig, change: string): void {
  const m = /^\s*(\S+)\s*(.*)$/s.exec(change);
  const word = (m?.[1] ?? '').toUpperCase();
  const rest = (m?.[2] ?? '').trim();
  const words = () => rest.split(/\s+/).filter(Boolean);
  const execForm = (): string[] => {
    if (rest.startsWith('[')) {
      try {
        const a = JSON.parse(rest) as unknown;
        if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a;
      } catch {
        /* shell form */
      }
    }
    return ['/bin/sh', '-c', rest];
  };
  const pairs = (what: string): [string, string][] => {
    if (!rest.includes('=')) {
      const sp = rest.search(/\s/);
      if (sp < 0) throw new TsbuildError('INVALID', `${what} must have two arguments`, undefined, 1);
      return [[rest.slice(0, sp), rest.slice(sp).trim()]];
    }
    const out: [string, string][] = [];
    for (const tok of rest.match(/(?:[^\s"']+|"(?:\\.|[^"])*"|'[^']*')+/g) ?? []) {
      const eq = tok.indexOf('=');
      if (eq <= 0) throw new TsbuildError('INVALID', `${what} names can not be blank`, undefined, 1);
      out.push([tok.slice(0, eq), tok.slice(eq + 1).replace(/^"(.*)"$/s, (_, s: string) => s.replace(/\\(.)/g, '$1')).replace(/^'(.*)'$/s, '$1')]);
    }
    return out;
  };
  switch (word) {
    case 'CMD':
      cfg.Cmd = execForm();
      return;
    case 'ENTRYPOINT':
      cfg.Entrypoint = execForm();
      return;
    case 'ENV': {
      const env = [...(cfg.Env ?? [])];
      for (const [k, val] of pairs('ENV')) {
        const at = env.findIndex((e) => e.startsWith(`${k}=`));
        if (at >= 0) env[at] = `${k}=${val}`;
        else env.push(`${k}=${val}`);
      }
      cfg.Env = env;
      return;
    }
    case 'LABEL':
      cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs('LABEL')) };
      return;
    case 'EXPOSE':
      cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...Object.fromEntries(words().map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])) };
      return;
    case 'VOLUME':
      cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries((rest.startsWith('[') ? (JSON.parse(rest) as string[]) : words()).map((p) => [p, {}])) };
      return;
    case 'USER':
      cfg.User = rest;
      return;
    case 'WORKDIR':
      cfg.WorkingDir = rest.startsWith('/') ? rest : `${(cfg.WorkingDir || '/').replace(/\/$/, '')}/${rest}`;
      return;
    case 'STOPSIGNAL':
      cfg.StopSignal = rest;
      return;
    case 'ONBUILD':
      cfg.OnBuild = [...(cfg.OnBuild ?? []), rest];
      return;
    default:
      throw new TsbuildError('INVALID', `${word.toLowerCase() || change} is not a valid change command`, undefined, 1);
  }
}
