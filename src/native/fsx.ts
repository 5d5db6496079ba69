/**
 * Typed access to native/build/fsx.node: mknod and xattrs on the link itself, the calls Node's fs
 * lacks and layers need (device nodes, overlay whiteouts and opaque dirs, security.capability).
 * The addon is compiled by `npm install` (native/Makefile).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface Fsx {
  /** mknod(2); `mode` includes the file type bits (fs.constants.S_IFCHR, ...). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** The attribute's value, or null when the file has no such attribute. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** Removes an attribute; an absent one is not an error. */
  lremovexattr(path: string, name: string): void;
}

let loaded: Fsx | undefined;

/** The addon, loaded on first use (commands that never touch layers do not pay for it). */
export function fsx(): Fsx {
  if (!loaded) {
    // src/native/ and dist/native/ are both two levels below the project root
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const require = createRequire(import.meta.url);
    try {
      loaded = require(join(root, 'native', 'build', 'fsx.node')) as Fsx;
    } catch (e) {
      throw new Error(
        `native addon native/build/fsx.node is missing or broken (run npm install): ${(e as Error).message}`,
      );
    }
  }
  return loaded;
}
