/**
 * A child process for the snapshotter's kill tests (not a test file itself): prepares an active
 * snapshot on an empty parent, writes into its upper dir, prints its key, then waits (to be
 * killed) or leaves without ending it. Mode `keyed`: a keyed active snapshot KEY over PARENT (a
 * committed chain ID, or `-` for none), then the same (`wait` to be killed, else it exits).
 * Mode `deferred`: commits it deferred as CHAIN, prints the key once `paths` names it, and waits
 * (its sync may be done or not: it is never settled).
 * Usage: node --import tsx snapshot-child.ts ROOT wait|exit
 *        node --import tsx snapshot-child.ts ROOT keyed KEY PARENT|- [wait]
 *        node --import tsx snapshot-child.ts ROOT deferred CHAIN
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, type Digest } from '../../src/image/index.js';

const [root, first, key, parent, then] = process.argv.slice(2);
const mode = first === 'keyed' ? then : first;
const store = await ImageStore.open(root!);
const active = first === 'keyed' ? await store.snapshots.prepare(parent === '-' ? [] : [parent as Digest], { key: key! }) : await store.snapshots.prepare([]);
writeFileSync(join(active.upperDir, 'half-made'), 'x'.repeat(4096));
if (first === 'deferred') store.snapshots.commitDeferred(active, key as Digest);
process.stdout.write(`${active.key}\n`);
if (mode !== 'wait' && first !== 'deferred') process.exit(0);
setInterval(() => {}, 1000);
