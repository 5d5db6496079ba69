/**
 * A child process for the store's crash and concurrency tests (not a test file itself).
 * Usage: node --import tsx store-child.ts ROOT write-loop | tag-loop PREFIX N
 */
import { randomBytes } from 'node:crypto';
import { ImageStore, emptyConfig } from '../../src/image/index.js';

const [root, mode, prefix = 'p', n = '10'] = process.argv.slice(2);
const store = await ImageStore.open(root!);

async function* slowBytes(total: number): AsyncGenerator<Buffer> {
  let left = total;
  while (left > 0) {
    const b = randomBytes(Math.min(left, 64 * 1024));
    left -= b.length;
    yield b;
    await new Promise((r) => setImmediate(r));
  }
}

if (mode === 'write-loop') {
  process.stdout.write('ready\n');
  for (let i = 0; ; i++) {
    const layer = await store.putBlob(slowBytes(256 * 1024 + Math.floor(Math.random() * 2 * 1024 * 1024)));
    await store.putImage({ config: emptyConfig(new Date().toISOString()), layers: [layer], tags: [`w/img:${i % 3}`] });
  }
} else if (mode === 'tag-loop') {
  const base = await store.resolve('base');
  for (let i = 0; i < Number(n); i++) {
    if (i % 5 === 0) {
      const layer = await store.putBlob([randomBytes(4096)]);
      await store.putImage({ config: emptyConfig(), layers: [layer], tags: [`${prefix}/own:${i}`] });
    }
    await store.tag(base.id, `${prefix}/t:${i}`);
  }
  process.stdout.write('done\n');
}
