/**
 * A child process for layer-snapshot.test.ts (not a test file itself): writes layers together with
 * their snapshots in a loop, each on top of the last, until it is killed.
 * Usage: node --import tsx layer-snapshot-child.ts ROOT SRC_DIR
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, type Digest, type LayerEntry } from '../../src/image/index.js';
import { topChainId, writeLayerWithSnapshot } from '../../src/image/layer-writer.js';

const [root, src] = process.argv.slice(2);
const store = await ImageStore.open(root!);
const files = readdirSync(src!).sort();
const below: Digest[] = [];
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const entries: LayerEntry[] = [{ path: `l${i}`, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0 }];
  for (const f of files) entries.push({ path: `l${i}/${f}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 256 * 1024, mtimeMs: 0, sourcePath: join(src!, f) });
  const info = await writeLayerWithSnapshot(store, store.snapshots, entries, topChainId(below), { donorRoot: src! }); // later layers link earlier copies
  below.push(info.digest);
}
