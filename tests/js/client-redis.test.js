/* client-redis.test.js: the client against wxsessiond with the Redis session store (a real
 * redis-server) and a 1-second session TTL: a session that times out is replaced by one new
 * login, token mode logs in once and logs out, and concurrent first requests still make one
 * exchange across workers. */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { REPO, startServer, startRedis, haveRedis } = require('./helpers/server.js');
const { scriptedWx, header } = require('./helpers/scripted-wx.js');
const wxsession = require(path.join(REPO, 'client', 'wxsession.js'));

const skip = haveRedis() ? false
    : 'redis-server is not installed (apt-get install redis-server)';
if (skip)
    console.log('SKIP: ' + skip);

describe('client against wxsessiond (Redis, ttl 1 s)', { skip }, () => {
    let redis;
    let server;
    const client = (user) => {
        const s = scriptedWx({ origin: server.origin, user });
        s.client = wxsession.createClient({ wx: s.wx });
        return s;
    };

    before(async () => {
        redis = await startRedis();
        server = await startServer({ args: ['--store', 'redis', '--redis-port', String(redis.port),
            '--redis-ttl', '1'] });
    });
    after(async () => {
        const code = server ? await server.stop() : 0;
        if (redis)
            await redis.stop();
        assert.equal(code, 0, 'wxsessiond stops cleanly on SIGTERM');
    });

    it('logs in again after the session timed out in Redis, and the retry succeeds',
        async () => {
            const s = client('redis-ttl');
            const first = await s.client.request({ url: server.base + '/session' });
            const second = await s.client.request({ url: server.base + '/session' });
            assert.deepEqual(second.data.wxUserInfo, first.data.wxUserInfo);
            assert.equal(s.count('login'), 1);
            await new Promise((resolve) => setTimeout(resolve, 2100));
            const third = await s.client.request({ url: server.base + '/session' });
            assert.equal(third.data.wxUserInfo.openId, first.data.wxUserInfo.openId);
            assert.deepEqual(s.log.calls, ['login', 'getUserInfo', 'request', 'request',
                'request', 'login', 'getUserInfo', 'request']);
            assert.equal(header(s.log.requests[2], 'X-WX-RawData'), undefined);
            assert.ok(header(s.log.requests[3], 'X-WX-RawData'), 'the retry logs in');
        });

    it('token mode: one login, Bearer on requests, logout ends the token in Redis',
        async () => {
            const s = scriptedWx({ origin: server.origin, user: 'redis-token' });
            s.client = wxsession.createClient({ wx: s.wx, mode: 'token', baseUrl: server.base });
            const all = await Promise.all(Array.from({ length: 5 },
                () => s.client.request({ url: server.base + '/session' })));
            assert.ok(all.every((r) => r.statusCode === 200 && r.data.wxUserInfo.openId));
            assert.equal(s.count('login'), 1);
            const token = s.wx.getStorageSync('wxsession:token');
            const me = await s.client.request({ url: server.base + '/me' });
            assert.equal(me.data.openId, all[0].data.wxUserInfo.openId);
            assert.equal((await s.client.logout()).statusCode, 200);
            const r = await fetch(server.base + '/me', { headers: { Authorization: 'Bearer ' +
                token } });
            assert.equal(r.status, 401);
        });

    it('makes one exchange for 10 concurrent first requests', async () => {
        const s = client('redis-burst');
        const before = (await server.sim.stats()).exchanges;
        const all = await Promise.all(Array.from({ length: 10 },
            () => s.client.request({ url: server.base + '/session' })));
        assert.equal((await server.sim.stats()).exchanges - before, 1);
        assert.equal(s.count('login'), 1);
        assert.ok(all.every((r) => r.data.wxUserInfo &&
            r.data.wxUserInfo.openId === all[0].data.wxUserInfo.openId));
    });
});
