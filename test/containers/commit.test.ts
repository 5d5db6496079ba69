/**
 * `commit` of a real busybox container: its changes (added, changed, deleted files) become one
 * layer on the image's, with the container's config, `-c` changes, history (author, comment,
 * created_by), and the new image runs with them; a bad change is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useContainerStore } from '../helpers/containers.js';

const base = useContainerStore();
const run = base.run;

test('commit: the container changes as a layer with history; -c, -m, -a', { timeout: 120_000 }, async () => {
  assert.equal((await run('run', '--name', 'cm', '-e', 'FROMRUN=1', 'busybox', 'sh', '-c', 'echo hello > /greeting; rm /bin/vi; echo more >> /etc/passwd')).code, 0);
  const c = await run('commit', '-m', 'add greeting', '-a', 'Me <me@example.com>', '-c', 'CMD ["cat","/greeting"]', '-c', 'ENV A=1', 'cm', 'mine:1');
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.deepEqual(await run('run', '--rm', 'mine:1'), { code: 0, stdout: 'hello\n', stderr: '' });
  const r = await run('run', '--rm', 'mine:1', 'sh', '-c', 'test -e /bin/vi || echo gone; echo $A $FROMRUN; tail -1 /etc/passwd');
  assert.deepEqual([r.code, r.stdout], [0, 'gone\n1 1\nmore\n']);
  const i = await run('inspect', '--format', '{{.Author}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}', 'mine:1');
  assert.equal(i.stdout, 'Me <me@example.com>|["cat","/greeting"]|2\n');
  const h = await run('history', '--no-trunc', '--format', 'json', 'mine:1');
  const top = JSON.parse(h.stdout.split('\n')[0]!) as { CreatedBy: string; Comment: string };
  assert.deepEqual([top.CreatedBy, top.Comment], ['sh -c echo hello > /greeting; rm /bin/vi; echo more >> /etc/passwd', 'add greeting']);
  // nothing changed: no layer, an empty_layer history entry
  await run('create', '--name', 'same', 'mine:1');
  await run('commit', 'same', 'mine:2');
  assert.equal((await run('inspect', '--format', '{{len .RootFS.Layers}} {{len .History}}', 'mine:2')).stdout, '2 3\n');
  const bad = await run('commit', '-c', 'FOO bar', 'cm');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /foo is not a valid change command/);
});
