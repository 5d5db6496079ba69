/**
 * An installed package's layout in a temp dir, as npm leaves it: bin/ (the launcher), dist/bundle/
 * (scripts/bundle.mjs's bundles, made for this copy), native/ (the project's, linked), package.json.
 * Tests of the installed command run PKG/bin/tsbuild; they may replace files of the copy.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './cli.js';

export function makeInstalledPackage(pkg: string): string {
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  for (const f of ['tsbuild', 'tsbuild.js', 'package.json']) copyFileSync(join(projectRoot, 'bin', f), join(pkg, 'bin', f));
  execFileSync('chmod', ['+x', join(pkg, 'bin', 'tsbuild')]);
  copyFileSync(join(projectRoot, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(projectRoot, 'native'), join(pkg, 'native'));
  execFileSync(process.execPath, [join(projectRoot, 'scripts', 'bundle.mjs'), '--outfile', join(pkg, 'dist', 'bundle', 'tsbuild.cjs')], { stdio: 'ignore' });
  return pkg;
}
