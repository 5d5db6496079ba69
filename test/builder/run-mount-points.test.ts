/**
 * RUN on a root that lacks the runtime's mount points (`FROM scratch` + a copied busybox): BuildKit's
 * layer keeps the /dev, /proc and /sys directories runc made for its mounts (root, 0755, the step's
 * time), while the /etc it needed only for the /etc/hosts and /etc/resolv.conf stubs goes away with
 * them (BuildKit 0.11+ removes empty stub directories; Docker 20.10 kept /etc).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFiles, makeBaseStore, type TempStore } from '../helpers/build.js';

let s: TempStore;
before(async () => {
  s = await makeBaseStore();
});
after(() => s?.cleanup());

test('RUN on a root without /dev, /proc, /sys, /etc: the layer keeps dev/, proc/ and sys/ (as BuildKit), not etc/', async () => {
  const started = Date.now();
  const b = await buildFiles(
    s.root,
    `FROM busybox AS bb
FROM scratch
COPY --from=bb /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo hi > /hello"]
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /etc && /bin/busybox echo x > /etc/mine"]
`,
  );
  const [, first, second] = b.layers; // FROM scratch: the COPY layer, then the two RUNs
  assert.deepEqual(
    first!.map((e) => [e.path, e.type, e.mode & 0o7777, e.uid, e.gid]),
    [
      ['dev', 'dir', 0o755, 0, 0],
      ['hello', 'file', 0o644, 0, 0],
      ['proc', 'dir', 0o755, 0, 0],
      ['sys', 'dir', 0o755, 0, 0],
    ],
  );
  for (const e of first!) assert.ok(e.mtime * 1000 >= started - 2000, `${e.path}: the step's time`);
  // the next RUN finds them in its base: nothing to add again; an /etc it writes to stays
  assert.deepEqual(second!.map((e) => e.path), ['etc', 'etc/mine']);
  // and FROM scratch has WorkingDir "/", as BuildKit's empty image
  assert.equal(b.config.config?.WorkingDir, '/');
});

test('SOURCE_DATE_EPOCH: the kept mount points carry its time', async () => {
  const b = await buildFiles(
    s.root,
    `FROM busybox AS bb
FROM scratch
COPY --from=bb /bin/busybox /bin/busybox
RUN ["/bin/busybox", "true"]
`,
    {},
    { buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } },
  );
  assert.deepEqual(b.layers.at(-1)!.map((e) => [e.path, e.mtime]), [
    ['dev', 1_700_000_000],
    ['proc', 1_700_000_000],
    ['sys', 1_700_000_000],
  ]);
});
