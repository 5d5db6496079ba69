import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runHistory, copyHistory, goSetMap, goList, execHistory, healthcheckHistory, goDuration } from '../../src/builder/history-text.js';

// Expected strings are what Docker (BuildKit) wrote into history for the same instructions.
test('history texts are spelled as BuildKit spells them', () => {
  assert.equal(runHistory(['/bin/sh', '-c', 'echo hi > /tmp/r && echo out'], []), 'RUN /bin/sh -c echo hi > /tmp/r && echo out # buildkit');
  assert.equal(runHistory(['/bin/sh', '-ec', 'echo $X'], [['X', '1']]), 'RUN |1 X=1 /bin/sh -ec echo $X # buildkit');
  assert.equal(copyHistory(false, ['a.txt'], '.'), 'COPY a.txt . # buildkit');
  assert.equal(goSetMap(['8080/tcp', '80/udp']), 'map[80/udp:{} 8080/tcp:{}]');
  assert.equal(goList(['/bin/sh', '-ec']), '[/bin/sh -ec]');
  assert.equal(execHistory('ENTRYPOINT', ['/bin/sh', '-c', 'echo hi']), 'ENTRYPOINT ["/bin/sh" "-c" "echo hi"]');
  assert.equal(healthcheckHistory({ Test: ['CMD-SHELL', 'true'], Interval: 5e9 }), 'HEALTHCHECK {Test:[CMD-SHELL true] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}');
  // BuildKit's own test case (frontend 1.24+)
  assert.equal(
    healthcheckHistory({ Test: ['bin', '-c', 'exit 0'], Interval: 1e9, Timeout: 10e9, StartPeriod: 3e9, StartInterval: 100e6, Retries: 5 }),
    'HEALTHCHECK {Test:[bin -c exit 0] Interval:1s Timeout:10s StartPeriod:3s StartInterval:100ms Retries:5}',
  );
});

test('Go duration strings', () => {
  assert.equal(goDuration(0), '0s');
  assert.equal(goDuration(90e9), '1m30s');
  assert.equal(goDuration(3600e9 + 2e9), '1h0m2s');
  assert.equal(goDuration(1.5e6), '1.5ms');
  assert.equal(goDuration(2.5e9), '2.5s');
  assert.equal(goDuration(500), '500ns');
});
