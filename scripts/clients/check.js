// What every Node.js client script checks, written once: each step is a
// named async function that throws on a wrong answer. Every step runs (but
// none after a failed first step, the connection) and prints "ok <name>"
// or "FAIL <name>: why"; the script exits 1 when any failed.
'use strict';

const assert = require('node:assert/strict');

// The keys every script writes: enough that MSET/MGET and SCAN cross both
// servers of the pool (the Go tests check that these names do).
const manyKeys = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}:${i}`);

// withTimeout rejects when promise has not settled within ms: a client
// that waits forever on the proxy is a failure, not a hang.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// run runs the steps in order, each bounded to 10 s, and exits.
async function run(steps) {
  let failed = 0;
  for (const [i, [name, step]] of steps.entries()) {
    try {
      await withTimeout(step(), 10000, name);
      console.log(`ok ${name}`);
    } catch (err) {
      console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
      failed++;
      if (i === 0) break;
    }
  }
  process.exit(failed ? 1 : 0);
}

// scanAll drives a SCAN cursor to 0 through scanPage(cursor) ->
// [nextCursor, keys] and checks every key of want came back exactly once.
async function scanAll(scanPage, want) {
  const seen = new Map();
  let cursor = '0';
  for (let calls = 0; ; calls++) {
    assert.ok(calls < 10000, `SCAN has not ended after ${calls} calls (cursor ${cursor})`);
    const [next, keys] = await scanPage(cursor);
    for (const k of keys) seen.set(k, (seen.get(k) || 0) + 1);
    cursor = String(next);
    if (cursor === '0') break;
  }
  for (const [k, n] of seen) assert.equal(n, 1, `SCAN returned ${k} ${n} times`);
  assert.deepEqual([...seen.keys()].sort(), [...want].sort(), 'SCAN to the end returns every key once');
}

// checkInfo checks what clients read in INFO: ioredis's ready check
// wants loading:0 and a redis_version.
function checkInfo(info) {
  assert.match(info, /^redis_version:7\./m, 'INFO has redis_version');
  assert.match(info, /^loading:0\r?$/m, 'INFO has loading:0');
}

module.exports = { assert, manyKeys, withTimeout, run, scanAll, checkInfo };
