/**
 * A child process for the snapshotter's kill tests (not a test file itself): prepares an active
 * snapshot on an empty parent, writes into its upper dir, prints its key, then waits (to be
 * killed) or leaves without ending it.
 * Usage: node --import tsx snapshot-child.ts ROOT wait|exit
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore } from '../../src/image/index.js';

const [root, mode] = process.argv.slice(2);
const store = await ImageStore.open(root!);
const active = await store.snapshots.prepare([]);
writeFileSync(join(active.upperDir, 'half-made'), 'x'.repeat(4096));
process.stdout.write(`${active.key}\n`);
if (mode === 'exit') process.exit(0);
setInterval(() => {}, 1000);
