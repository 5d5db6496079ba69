/** One busybox store per container test file, the CLI bound to it, and every container removed at
 *  the end (so a failing test leaves no monitor, mount, rule or cgroup behind). */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeBaseStore, type TempStore } from './build.js';
import { projectRoot, runCli, type CliResult } from './cli.js';

export interface ContainerStore {
  /** The store's root (valid once the file's `before` hook ran). */
  readonly root: string;
  /** The busybox base image's ID. */
  readonly baseId: string;
  /** `tsbuild --root ROOT ARGS...` as a user runs it. */
  run(...args: string[]): Promise<CliResult>;
  /** `run` that must succeed (exit 0): its stdout, trimmed. */
  ok(...args: string[]): Promise<string>;
  /** The CLI under a real pseudo-terminal of ROWS x COLS (python3's pty module), fed STEPS
   *  (`wait TEXT`, `sleep S`, `resize R C`, `send BYTES`; see test/containers/fixtures/pty-run.py). */
  underPty(rows: number, cols: number, args: string[], steps: string[]): Promise<{ code: number; out: string }>;
}

/** Registers the file's before/after hooks; call once at the top of a test file. */
export function useContainerStore(): ContainerStore {
  let base: TempStore | undefined;
  const store: ContainerStore = {
    get root() {
      return made().root;
    },
    get baseId() {
      return made().baseId;
    },
    run: (...args) => runCli(['--root', store.root, ...args]),
    ok: async (...args) => {
      const r = await store.run(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    },
    underPty: (rows, cols, args, steps) =>
      new Promise((resolve, reject) => {
        const script = join(projectRoot, 'test', 'containers', 'fixtures', 'pty-run.py');
        const main = join(projectRoot, 'src', 'cli', 'main.ts');
        const child = spawn('python3', [script, String(rows), String(cols), process.execPath, '--import', 'tsx', main, '--root', store.root, ...args], {
          cwd: projectRoot,
          stdio: ['pipe', 'pipe', 'inherit'],
          env: { ...process.env, PTY_DEADLINE: '60' },
        });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.stdin.end(steps.map((x) => x + '\n').join(''));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? 1, out }));
      }),
  };
  const made = () => {
    if (!base) throw new Error('the container store is made in the before hook');
    return base;
  };
  before(async () => {
    base = await makeBaseStore();
  });
  after(async () => {
    if (!base) return;
    const ids = (await store.run('ps', '-aq', '--no-trunc')).stdout.split('\n').filter(Boolean);
    if (ids.length) await store.run('rm', '-f', '-v', ...ids);
    base.cleanup();
  });
  return store;
}
