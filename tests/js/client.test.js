/* client.test.js: the wxsession client driven by a scripted wx against the real wxsessiond
 * (--dev: SQLite store and the WeChat simulator): login, code-only requests, shared login for
 * concurrent requests, expiry and re-login, exchange failures, callbacks. */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { REPO, startServer } = require('./helpers/server.js');
const { scriptedWx, header, callbackSpy, watchUnhandled, settleTicks } =
    require('./helpers/scripted-wx.js');
const wxsession = require(path.join(REPO, 'client', 'wxsession.js'));

describe('client against wxsessiond (SQLite)', () => {
    let server;
    let users = 0;
    /* A fresh test user per case: the simulator's per-user quota and sessions stay apart. */
    const newUser = (tag) => `${tag}${++users}`;
    const client = (user, extra) => {
        const s = scriptedWx(Object.assign({ origin: server.origin, user }, extra));
        s.client = wxsession.createClient(Object.assign({ wx: s.wx }, extra && extra.config));
        return s;
    };

    before(async () => {
        server = await startServer();
    });
    after(async () => {
        assert.equal(await server.stop(), 0, 'wxsessiond stops cleanly on SIGTERM');
    });

    it('logs in on the first request (wx.login, then wx.getUserInfo), then sends the code only',
        async () => {
            const s = client(newUser('first'));
            const res = await s.client.request({ url: server.base + '/session' });
            assert.equal(res.statusCode, 200);
            assert.deepEqual(s.log.calls, ['login', 'getUserInfo', 'request']);
            const first = s.log.requests[0];
            const code = header(first, 'X-WX-Code');
            assert.ok(code, 'X-WX-Code sent');
            const raw = decodeURIComponent(header(first, 'X-WX-RawData'));
            assert.equal(JSON.parse(raw).nickName, '微信用户', 'rawData is the UTF-8 JSON');
            assert.match(header(first, 'X-WX-RawData'), /%E5%BE%AE/, 'percent-encoded UTF-8');
            assert.match(header(first, 'X-WX-Signature'), /^[0-9a-f]{40}$/);
            const user = res.data.wxUserInfo;
            assert.equal(user.nickName, '微信用户');
            assert.match(user.openId, /^o/);

            const again = await s.client.request({ url: server.base + '/session' });
            assert.deepEqual(again.data.wxUserInfo, user);
            assert.deepEqual(s.log.calls, ['login', 'getUserInfo', 'request', 'request']);
            const second = s.log.requests[1];
            assert.equal(header(second, 'X-WX-Code'), code);
            assert.equal(header(second, 'X-WX-RawData'), undefined);
            assert.equal(header(second, 'X-WX-Signature'), undefined);
            assert.equal(s.client.hasSession(), true);
        });

    it('keeps the session in wx storage: a restarted app sends the stored code', async () => {
        const s = client(newUser('restart'));
        const res = await s.client.request({ url: server.base + '/session' });
        const restarted = client(s.wx.getUser(), { storage: s.storage });
        const res2 = await restarted.client.request({ url: server.base + '/session' });
        assert.deepEqual(restarted.log.calls, ['request'], 'no new login');
        assert.equal(header(restarted.log.requests[0], 'X-WX-Code'),
            header(s.log.requests[0], 'X-WX-Code'));
        assert.deepEqual(res2.data.wxUserInfo, res.data.wxUserInfo);
    });

    it('makes one login and one code exchange for 10 concurrent first requests', async () => {
        const s = client(newUser('burst'));
        const before = (await server.sim.stats()).exchanges;
        const all = await Promise.all(Array.from({ length: 10 },
            () => s.client.request({ url: server.base + '/session' })));
        const after = (await server.sim.stats()).exchanges;
        assert.equal(after - before, 1, 'simulator exchanges delta');
        assert.equal(s.count('login'), 1);
        assert.equal(s.count('getUserInfo'), 1);
        assert.equal(s.count('request'), 10);
        const openIds = new Set(all.map((r) => r.data.wxUserInfo && r.data.wxUserInfo.openId));
        assert.equal(openIds.size, 1, 'every request answered as the same user');
        assert.ok([...openIds][0]);
        const codes = new Set(s.log.requests.map((r) => header(r, 'X-WX-Code')));
        assert.equal(codes.size, 1, 'one code shared');
        await s.client.request({ url: server.base + '/session' });
        assert.equal(header(s.log.requests[10], 'X-WX-RawData'), undefined,
            'the 11th request sends the code only');
    });

    it('logs in again once when the session expired, and the retry succeeds', async () => {
        const user = newUser('expire');
        const a = client(user);
        const first = await a.client.request({ url: server.base + '/session' });
        /* one live session per user: another client's login invalidates a's code */
        const b = client(user);
        await b.client.request({ url: server.base + '/session' });
        const spy = callbackSpy();
        const res = await a.client.request(Object.assign({ url: server.base + '/session' },
            spy.options));
        await settleTicks();
        assert.equal(res.data.wxUserInfo.openId, first.data.wxUserInfo.openId);
        assert.deepEqual(a.log.calls, ['login', 'getUserInfo', 'request', 'request', 'login',
            'getUserInfo', 'request']);
        assert.notEqual(header(a.log.requests[2], 'X-WX-Code'),
            header(a.log.requests[1], 'X-WX-Code'), 'a new code after the expiry');
        assert.ok(header(a.log.requests[2], 'X-WX-RawData'), 'the retry is a full login');
        assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
    });

    it('re-logs in once for concurrent requests that all find the session expired', async () => {
        const user = newUser('expire-many');
        const a = client(user);
        await a.client.request({ url: server.base + '/session' });
        await client(user).client.request({ url: server.base + '/session' });
        const all = await Promise.all(Array.from({ length: 5 },
            () => a.client.request({ url: server.base + '/session' })));
        assert.ok(all.every((r) => r.data.wxUserInfo && r.data.wxUserInfo.openId));
        assert.equal(a.count('login'), 2, 'the first login and one re-login');
    });

    it('retries after a failed code exchange (ERR_SESSION_KEY_EXCHANGE_FAILED)', async () => {
        const s = client(newUser('exchange'));
        await server.sim.config({ failMode: 'http500', failCount: 1 });
        try {
            const res = await s.client.request({ url: server.base + '/session' });
            assert.ok(res.data.wxUserInfo.openId);
            assert.equal(s.count('login'), 2);
            assert.equal(s.count('request'), 2);
        } finally {
            await server.sim.config({ failMode: 'none', failCount: 0 });
        }
    });

    it('redoes the full login once on ERR_UNTRUSTED_RAW_DATA, then fails', async () => {
        const watch = watchUnhandled();
        const s = client(newUser('untrusted'), {
            getUserInfo: (params, real) => real(Object.assign({}, params, {
                success: (r) => params.success(Object.assign({}, r, { signature: '0'.repeat(40) })),
            })),
        });
        const spy = callbackSpy();
        const p = s.client.request(Object.assign({ url: server.base + '/session' },
            spy.options));
        await assert.rejects(p, (e) => e.code === 'ERR_UNTRUSTED_RAW_DATA');
        await settleTicks();
        assert.equal(s.count('login'), 2);
        assert.equal(s.count('request'), 2);
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(spy.lastError.name, 'WxSessionError');
        assert.equal(spy.lastError.reason, 'ERR_UNTRUSTED_RAW_DATA');
        assert.equal(s.client.hasSession(), false);
        assert.deepEqual(watch.stop(), []);
    });

    it('fails at once on malformed rawData (no reason in the answer)', async () => {
        const s = client(newUser('malformed'), {
            getUserInfo: (params, real) => real(Object.assign({}, params, {
                success: (r) => params.success(Object.assign({}, r, { rawData: 'not json' })),
            })),
        });
        await assert.rejects(s.client.request({ url: server.base + '/session' }),
            (e) => e.code === 'ERR_MALFORMED_RAW_DATA' && e.reason === '' &&
                e.detail.name === 'SyntaxError');
        assert.equal(s.count('request'), 1);
    });

    it('reports wx.login failures to fail, and the next request logs in again', async () => {
        const watch = watchUnhandled();
        let broken = true;
        const s = client(newUser('loginfail'), {
            login: (params, real) => (broken ? params.fail({ errMsg: 'login:fail no network' })
                : real(params)),
        });
        const spy = callbackSpy();
        s.client.request(Object.assign({ url: server.base + '/session' }, spy.options));
        await settleTicks();
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(spy.lastError.code, 'ERR_WX_LOGIN_FAILED');
        assert.equal(spy.lastError.errMsg, 'login:fail no network');
        assert.equal(s.count('request'), 0);
        broken = false;
        const res = await s.client.request({ url: server.base + '/session' });
        assert.ok(res.data.wxUserInfo.openId);
        assert.deepEqual(watch.stop(), []);
    });

    it('clearSession() makes the next request log in anew', async () => {
        const s = client(newUser('clear'));
        await s.client.request({ url: server.base + '/session' });
        s.client.clearSession();
        assert.equal(s.client.hasSession(), false);
        assert.equal(s.wx.getStorageSync('wxsession:code'), '');
        await s.client.request({ url: server.base + '/session' });
        assert.equal(s.count('login'), 2);
        assert.ok(header(s.log.requests[1], 'X-WX-RawData'));
    });

    it('calls success and complete once each on success', async () => {
        const s = client(newUser('callbacks'));
        const spy = callbackSpy();
        const ret = s.client.request(Object.assign({ url: server.base + '/session' },
            spy.options));
        assert.ok(ret instanceof Promise, 'the callback form returns a promise too');
        const res = await ret;
        await settleTicks();
        assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
        assert.equal(spy.lastResult, res);
    });

    it('saves, lists and deletes paints through the session (paints API)', async () => {
        const s = client(newUser('painter'));
        const other = client(newUser('other'));
        const actions = JSON.stringify({ v: 1, points: [[1, 2], [3, 4]] });
        const save = await s.client.request({ url: server.base + '/session/paints/save',
            method: 'POST', data: { id: 'p-1', actions } });
        assert.deepEqual(save.data, { code: 0, msg: 'success', data: {} });
        const list = await s.client.request({ url: server.base + '/session/paints/list' });
        assert.equal(list.data.code, 0);
        assert.deepEqual(list.data.data.map((p) => [p.id, p.actions]), [['p-1', actions]]);
        const theirs = await other.client.request({ url: server.base + '/session/paints/list' });
        assert.deepEqual(theirs.data.data, [], 'another user does not see it');
        const del = await s.client.request({ url: server.base + '/session/paints/delete',
            method: 'POST', data: { id: 'p-1' } });
        assert.equal(del.data.code, 0);
        const empty = await s.client.request({ url: server.base + '/session/paints/list' });
        assert.deepEqual(empty.data.data, []);
    });
});
