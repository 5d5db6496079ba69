/**
 * An installed package's layout in a temp dir, as npm leaves it: bin/ (the launcher), dist/bundle/
 * (scripts/bundle.mjs's bundles, made for this copy), native/ (the project's, linked), package.json.
 * Tests of the installed command run PKG/bin/tsbuild; they may replace files of the copy.
 * `withoutFsx`: native/ is a directory of its own whose build/ links every file of the project's
 * but fsx.node (an install whose addon did not build: the launcher reads its bundle instead).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './cli.js';

export function makeInstalledPackage(pkg: string, opts: { withoutFsx?: boolean } = {}): string {
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  for (const f of ['tsbuild', 'tsbuild.js', 'package.json']) copyFileSync(join(projectRoot, 'bin', f), join(pkg, 'bin', f));
  execFileSync('chmod', ['+x', join(pkg, 'bin', 'tsbuild')]);
  copyFileSync(join(projectRoot, 'package.json'), join(pkg, 'package.json'));
  if (opts.withoutFsx) {
    const built = join(projectRoot, 'native', 'build');
    mkdirSync(join(pkg, 'native', 'build'), { recursive: true });
    for (const f of readdirSync(built)) if (f !== 'fsx.node') symlinkSync(join(built, f), join(pkg, 'native', 'build', f));
  } else {
    symlinkSync(join(projectRoot, 'native'), join(pkg, 'native'));
  }
  execFileSync(process.execPath, [join(projectRoot, 'scripts', 'bundle.mjs'), '--outfile', join(pkg, 'dist', 'bundle', 'tsbuild.cjs')], { stdio: 'ignore' });
  return pkg;
}

export interface InstalledRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` with XDG_CACHE_HOME at `cacheHome`; `env` values of undefined are removed. */
export function runInstalled(cmd: string, args: string[], opts: { cacheHome: string; cwd?: string; env?: Record<string, string | undefined> }): Promise<InstalledRun> {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: opts.cacheHome };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: e, ...(opts.cwd ? { cwd: opts.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
