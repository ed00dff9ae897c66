// ioredis through the proxy, on its default options.
//   node ioredis.js MODULE PORT AUTH_PORT PASSWORD
// MODULE: ioredis5 or ioredis6 (package.json's aliases). ioredis 5's
// ready check sends INFO before anything else; ioredis 6 starts with
// HELLO 3 and falls back to RESP2 on NOPROTO.
'use strict';

const { assert, manyKeys, run, scanAll, checkInfo } = require('./check');

const [moduleName, port, authPort, password] = process.argv.slice(2);
const Redis = require(moduleName);

// connect resolves when the client is ready, and rejects with the first
// error instead of letting ioredis reconnect forever.
function connect(options) {
  const client = new Redis({ host: '127.0.0.1', ...options });
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client));
    client.once('error', (err) => {
      client.disconnect();
      reject(err);
    });
  });
}

let r;
// Keys start with the module's name: ioredis 5 and 6 run on one keyspace.
const mkeys = manyKeys(`${moduleName}:m`, 20);
const skeys = manyKeys(`${moduleName}:s`, 100);

run([
  ['connect', async () => {
    r = await connect({ port: Number(port) });
  }],
  ['SET/GET', async () => {
    assert.equal(await r.set(`${moduleName}:k`, 'v1'), 'OK');
    assert.equal(await r.get(`${moduleName}:k`), 'v1');
    assert.equal(await r.get(`${moduleName}:absent`), null);
  }],
  ['MSET/MGET', async () => {
    assert.equal(await r.mset(...mkeys.flatMap((k) => [k, `val-${k}`])), 'OK');
    assert.deepEqual(await r.mget(...mkeys, `${moduleName}:absent`), [...mkeys.map((k) => `val-${k}`), null]);
  }],
  ['pipeline of 100', async () => {
    const p = r.pipeline();
    for (let i = 0; i < 50; i++) p.set(`${moduleName}:p:${i}`, i);
    for (let i = 0; i < 50; i++) p.incrby(`${moduleName}:p:${i}`, 1000);
    const results = await p.exec();
    assert.equal(results.length, 100);
    results.forEach(([err], i) => assert.equal(err, null, `pipeline command ${i}`));
    assert.deepEqual(results.slice(50).map(([, n]) => n), Array.from({ length: 50 }, (_, i) => i + 1000));
  }],
  ['MULTI/EXEC on one hash tag', async () => {
    const results = await r.multi()
      .set(`{${moduleName}:tx}:a`, 1)
      .incr(`{${moduleName}:tx}:a`)
      .hset(`{${moduleName}:tx}:h`, 'f', 'x')
      .get(`{${moduleName}:tx}:a`)
      .exec();
    assert.deepEqual(results, [[null, 'OK'], [null, 2], [null, 1], [null, '2']]);
  }],
  ['INFO', async () => checkInfo(await r.info())],
  ['SCAN to the end', async () => {
    await r.mset(...skeys.flatMap((k) => [k, 'x']));
    await scanAll(async (cursor) => r.scan(cursor, 'MATCH', `${moduleName}:s:*`, 'COUNT', 100), skeys);
  }],
  ['connectionName', async () => {
    const named = await connect({ port: Number(port), connectionName: 'ioredis-check' });
    assert.equal(await named.client('GETNAME'), 'ioredis-check');
    named.disconnect();
  }],
  ['redis_auth: NOAUTH without the password', async () => {
    const anon = new Redis({ host: '127.0.0.1', port: Number(authPort) });
    anon.on('error', () => {}); // the ready check's NOAUTH; PING's own rejection is checked
    await assert.rejects(anon.ping(), /NOAUTH/);
    anon.disconnect();
  }],
  ['redis_auth: the password', async () => {
    const authed = await connect({ port: Number(authPort), password });
    assert.equal(await authed.ping(), 'PONG');
    authed.disconnect();
  }],
  ['quit()', async () => {
    const ended = new Promise((resolve) => r.once('end', resolve));
    assert.equal(await r.quit(), 'OK');
    await ended;
  }],
]);
