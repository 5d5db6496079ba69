/**
 * `tsbuild build --check`: BuildKit's checks without building (buildx's `--check`, i.e.
 * `--call=check`): the report on stdout, exit 1 when a rule reported; with `error=true` the
 * violation error follows the report.
 */
import type { BuildOptions } from '../builder/options.js';
import type { ImageStore } from '../image/store.js';

export async function runCheckOnly(store: ImageStore, options: BuildOptions): Promise<void> {
  const [{ checkOnly }, { formatCheckReport }] = await Promise.all([import('../builder/checks/build-checks.js'), import('../builder/checks/print.js')]);
  const result = await checkOnly(store, options);
  process.stdout.write(formatCheckReport(result.warnings, result.sourceText));
  if (result.error) {
    process.stdout.write('\n');
    throw result.error;
  }
  if (result.warnings.length > 0) process.exitCode = 1;
}
