// node-redis through the proxy, on its default options.
//   node node-redis.js MODULE PORT AUTH_PORT PASSWORD
// MODULE: redis4, redis5 or redis6 (package.json's aliases). 4 and 5 speak
// RESP2, send CLIENT SETINFO on connect and CLIENT SETNAME with the name
// option. 6 opens with HELLO 3 (RESP3; the name and the password go in it)
// and never falls back to RESP2: when HELLO fails it does not connect, but
// tries again and again. It also sends CLIENT MAINT_NOTIFICATIONS,
// whose error it ignores. All want +OK to QUIT before the connection closes.
'use strict';

const { assert, manyKeys, run, scanAll, checkInfo } = require('./check');

const [moduleName, port, authPort, password] = process.argv.slice(2);
const { createClient } = require(moduleName);
const resp3 = Number(require(`${moduleName}/package.json`).version.split('.')[0]) >= 6;

// connect resolves with a ready client, or rejects with the first error
// before it is ready (a failed handshake, which node-redis would otherwise
// retry for ever). Later errors reach the command that meets them (and a
// hang, the step's time limit); the 'error' listener only keeps node-redis
// from throwing them again.
async function connect(options) {
  const client = createClient({ socket: { host: '127.0.0.1', port: Number(options.port) }, ...options.extra });
  client.on('error', (err) => console.error(`client error event: ${err.message}`));
  let onError;
  const failed = new Promise((_, reject) => client.once('error', (onError = reject)));
  try {
    await Promise.race([client.connect(), failed]);
  } catch (err) {
    client.destroy();
    throw err;
  } finally {
    client.off('error', onError);
  }
  return client;
}

let r;
// Keys start with the module's name: node-redis 4, 5 and 6 run on one keyspace.
const mkeys = manyKeys(`${moduleName}:m`, 20);
const skeys = manyKeys(`${moduleName}:s`, 100);

run([
  ['connect', async () => {
    r = await connect({ port });
  }],
  ['SET/GET', async () => {
    assert.equal(await r.set(`${moduleName}:k`, 'v1'), 'OK');
    assert.equal(await r.get(`${moduleName}:k`), 'v1');
    assert.equal(await r.get(`${moduleName}:absent`), null);
  }],
  ['MSET/MGET', async () => {
    assert.equal(await r.mSet(mkeys.map((k) => [k, `val-${k}`])), 'OK');
    assert.deepEqual(await r.mGet([...mkeys, `${moduleName}:absent`]), [...mkeys.map((k) => `val-${k}`), null]);
  }],
  ['pipeline of 100', async () => {
    const p = r.multi();
    for (let i = 0; i < 50; i++) p.set(`${moduleName}:p:${i}`, String(i));
    for (let i = 0; i < 50; i++) p.incrBy(`${moduleName}:p:${i}`, 1000);
    const results = await p.execAsPipeline();
    assert.equal(results.length, 100);
    assert.deepEqual(results.slice(50), Array.from({ length: 50 }, (_, i) => i + 1000));
  }],
  ['MULTI/EXEC on one hash tag', async () => {
    const results = await r.multi()
      .set(`{${moduleName}:tx}:a`, '1')
      .incr(`{${moduleName}:tx}:a`)
      .hSet(`{${moduleName}:tx}:h`, 'f', 'x')
      .get(`{${moduleName}:tx}:a`)
      .exec();
    assert.deepEqual(results, ['OK', 2, 1, '2']);
  }],
  ['INFO', async () => checkInfo(await r.info())],
  ...(resp3 ? [['RESP3 replies', async () => {
    // Raw replies, as the proxy sent them: a map (%) and a double (,) are
    // RESP3's; in RESP2 both would be bulk strings, the first in an array.
    await r.hSet(`${moduleName}:h3`, 'f', 'v');
    assert.deepEqual(await r.sendCommand(['HGETALL', `${moduleName}:h3`]), { f: 'v' });
    await r.zAdd(`${moduleName}:z3`, { score: 1.5, value: 'm' });
    assert.equal(await r.sendCommand(['ZSCORE', `${moduleName}:z3`, 'm']), 1.5);
  }]] : []),
  ['SCAN to the end', async () => {
    await r.mSet(skeys.map((k) => [k, 'x']));
    await scanAll(async (cursor) => {
      const page = await r.scan(cursor, { MATCH: `${moduleName}:s:*`, COUNT: 100 });
      return [page.cursor, page.keys];
    }, skeys);
  }],
  ['name option', async () => {
    const named = await connect({ port, extra: { name: 'node-redis-check' } });
    assert.equal(await named.clientGetName(), 'node-redis-check');
    await named.quit();
  }],
  ['redis_auth: NOAUTH without the password', async () => {
    if (resp3) { // HELLO 3 itself gets the NOAUTH: no connection
      await assert.rejects(connect({ port: authPort }), /NOAUTH/);
      return;
    }
    const anon = await connect({ port: authPort });
    await assert.rejects(anon.ping(), /NOAUTH/);
    await anon.quit();
  }],
  ['redis_auth: the password', async () => {
    const authed = await connect({ port: authPort, extra: { password } });
    assert.equal(await authed.ping(), 'PONG');
    await authed.quit();
  }],
  ['quit()', async () => {
    assert.equal(await r.quit(), 'OK');
    assert.equal(r.isOpen, false);
  }],
]);
