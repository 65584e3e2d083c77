/* client-token.test.js: the client's token mode driven by a scripted wx against the real
 * wxsessiond (--dev: SQLite store and the WeChat simulator): POST /login then Bearer on
 * /session, /me and the paints routes; one login and one exchange for concurrent first
 * requests; the token kept across client instances; a stored token the server does not know
 * (tampered, logged out everywhere) answered by one re-login and one retry; ERR_WECHAT with
 * relogin; logout and logout all; the user profile sent at login; getPhoneNumber with the
 * simulator's phone codes (once each, the user's own only, the same code after a re-login,
 * WeChat's quota reported and not retried); /decrypt's ERR_DECRYPT_FAILED handed over. */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { REPO, startServer } = require('./helpers/server.js');
const { scriptedWx, header, callbackSpy, settleTicks } = require('./helpers/scripted-wx.js');
const wxsession = require(path.join(REPO, 'client', 'wxsession.js'));

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

describe('token mode against wxsessiond (SQLite)', { timeout: 120000 }, () => {
    let server;
    let routes = false;
    let users = 0;
    /* A fresh test user per case: sessions and the simulator's quota stay apart. */
    const newUser = (tag) => `${tag}${++users}`;
    const client = (user, extra) => {
        const s = scriptedWx(Object.assign({ origin: server.origin, user }, extra));
        s.client = wxsession.createClient(Object.assign({ wx: s.wx, mode: 'token',
            baseUrl: server.base }, extra && extra.config));
        return s;
    };
    const logins = (s) => s.log.requests.filter((r) => r.url.endsWith('/login'));
    const apiCalls = (s) => s.log.requests.filter((r) => !/\/log(in|out)$/.test(r.url));
    /* The server answered a token request with status and error code? */
    const tokenStatus = async (token, route) => {
        const r = await fetch(server.base + (route || '/me'),
            { headers: { Authorization: 'Bearer ' + token } });
        const body = await r.json();
        return [r.status, body.error ? body.error.code : null];
    };
    /* Skips a case while the server has no token routes yet (POST /login answers 404). */
    const needRoutes = (t) => {
        if (!routes)
            t.skip('wxsessiond has no POST {base}/login yet');
        return routes;
    };
    let phoneRoutes = false;
    /* Skips a case of the WeChat-API features (phone numbers, /decrypt asking WeChat) while
     * the server has no POST /phone or the simulator no phone codes. */
    const needPhone = (t) => {
        if (!phoneRoutes)
            t.skip('wxsessiond has no POST {base}/phone or GET /__wxsim/phone-code yet');
        return phoneRoutes;
    };

    before(async () => {
        server = await startServer();
        const probe = await fetch(server.base + '/login', { method: 'POST',
            headers: { 'content-type': 'application/json' }, body: '{}' });
        routes = probe.status !== 404;
        if (!routes)
            console.log('SKIP: wxsessiond answers 404 to POST /login: token routes missing');
        const phone = await fetch(server.base + '/phone', { method: 'POST',
            headers: { 'content-type': 'application/json' }, body: '{"code":"x"}' });
        phoneRoutes = routes && phone.status === 401 &&
            (await server.sim.phoneCode('probe')) !== null;
        if (!phoneRoutes)
            console.log('SKIP: no POST /phone (answered ' + phone.status + ') or no simulator ' +
                'phone codes: the getPhoneNumber cases');
    });
    after(async () => {
        if (server)
            assert.equal(await server.stop(), 0, 'wxsessiond stops cleanly on SIGTERM');
    });

    it('logs in with POST /login, then sends the token on /session', async (t) => {
        if (!needRoutes(t))
            return;
        const s = client(newUser('first'));
        const res = await s.client.request({ url: server.base + '/session' });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(s.log.calls, ['login', 'request', 'request']);
        const [login, session] = s.log.requests;
        assert.equal(login.method, 'POST');
        assert.deepEqual(Object.keys(login.data), ['code']);
        const token = s.wx.getStorageSync('wxsession:token');
        assert.match(token, TOKEN, 'a 256-bit base64url token in wx storage');
        assert.equal(header(session, 'Authorization'), 'Bearer ' + token);
        assert.equal(header(session, 'X-WX-Code'), undefined);
        assert.match(res.data.wxUserInfo.openId, /^o/);

        const again = await s.client.request({ url: server.base + '/session' });
        assert.deepEqual(again.data.wxUserInfo, res.data.wxUserInfo);
        assert.equal(s.count('login'), 1);
    });

    it('makes one wx.login, one /login and one exchange for 10 concurrent first requests',
        async (t) => {
            if (!needRoutes(t))
                return;
            const s = client(newUser('burst'));
            const before = (await server.sim.stats()).exchanges;
            const all = await Promise.all(Array.from({ length: 10 },
                () => s.client.request({ url: server.base + '/session' })));
            assert.equal((await server.sim.stats()).exchanges - before, 1);
            assert.equal(s.count('login'), 1);
            assert.equal(logins(s).length, 1);
            assert.equal(new Set(all.map((r) => r.data.wxUserInfo.openId)).size, 1);
            const bearers = new Set(apiCalls(s).map((r) => header(r, 'Authorization')));
            assert.equal(bearers.size, 1, 'one token shared');
        });

    it('keeps the token in wx storage: another client instance goes on without a login',
        async (t) => {
            if (!needRoutes(t))
                return;
            const s = client(newUser('restart'));
            const res = await s.client.request({ url: server.base + '/session' });
            const restarted = client(s.wx.getUser(), { storage: s.storage });
            const me = await restarted.client.request({ url: server.base + '/me' });
            assert.deepEqual(restarted.log.calls, ['request'], 'no new login');
            assert.equal(me.statusCode, 200);
            assert.equal(me.data.openId, res.data.wxUserInfo.openId);
            assert.ok(me.data.expiresAt > Date.now() / 1000, 'expiresAt is in the future');
            assert.ok('unionId' in me.data && 'userInfo' in me.data);
        });

    it('saves, lists and deletes paints with the token', async (t) => {
        if (!needRoutes(t))
            return;
        const s = client(newUser('painter'));
        const other = client(newUser('other'));
        const actions = JSON.stringify({ v: 1, points: [[1, 2], [3, 4]] });
        const save = await s.client.request({ url: server.base + '/session/paints/save',
            method: 'POST', data: { id: 'p-1', actions } });
        assert.deepEqual(save.data, { code: 0, msg: 'success', data: {} });
        const list = await s.client.request({ url: server.base + '/session/paints/list' });
        assert.deepEqual(list.data.data.map((p) => [p.id, p.actions]), [['p-1', actions]]);
        const theirs = await other.client.request({ url: server.base + '/session/paints/list' });
        assert.deepEqual(theirs.data.data, [], 'another user does not see it');
        const del = await s.client.request({ url: server.base + '/session/paints/delete',
            method: 'POST', data: { id: 'p-1' } });
        assert.equal(del.data.code, 0);
        assert.ok(apiCalls(s).every((r) => /^Bearer /.test(header(r, 'Authorization'))));
    });

    it('answers a stored token the server does not know with one re-login and one retry',
        async (t) => {
            if (!needRoutes(t))
                return;
            const s = client(newUser('tampered'));
            await s.client.request({ url: server.base + '/session' });
            const good = s.wx.getStorageSync('wxsession:token');
            const bad = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
            const restarted = client(s.wx.getUser(), { storage: s.storage });
            s.wx.setStorageSync('wxsession:token', bad);
            const spy = callbackSpy();
            const res = await restarted.client.request(Object.assign(
                { url: server.base + '/session' }, spy.options));
            await settleTicks();
            assert.equal(res.statusCode, 200);
            assert.deepEqual(restarted.log.calls, ['request', 'login', 'request', 'request'],
                'the refused request, a login, the retry');
            assert.equal(header(restarted.log.requests[0], 'Authorization'), 'Bearer ' + bad);
            assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
            assert.notEqual(restarted.wx.getStorageSync('wxsession:token'), bad);
        });

    it('logout() ends the token on the server and forgets it', async (t) => {
        if (!needRoutes(t))
            return;
        const s = client(newUser('logout'));
        await s.client.request({ url: server.base + '/session' });
        const token = s.wx.getStorageSync('wxsession:token');
        const res = await s.client.logout();
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.data, { ok: true });
        assert.equal(s.client.hasSession(), false);
        assert.equal(s.wx.getStorageSync('wxsession:token'), '');
        assert.deepEqual(await tokenStatus(token), [401, 'ERR_TOKEN_INVALID']);
        await s.client.request({ url: server.base + '/session' });
        assert.equal(s.count('login'), 2, 'the next request logs in anew');
    });

    it('logout({all: true}) ends every device\'s token; the other device logs in again once',
        async (t) => {
            if (!needRoutes(t))
                return;
            const user = newUser('devices');
            const phone = client(user);
            const tablet = client(user);
            await phone.client.request({ url: server.base + '/session' });
            await tablet.client.request({ url: server.base + '/session' });
            const tabletToken = tablet.wx.getStorageSync('wxsession:token');
            const res = await phone.client.logout({ all: true });
            assert.equal(res.statusCode, 200);
            assert.deepEqual(await tokenStatus(tabletToken), [401, 'ERR_TOKEN_INVALID']);
            const again = await tablet.client.request({ url: server.base + '/session' });
            assert.equal(again.statusCode, 200);
            assert.equal(tablet.count('login'), 2, 'one re-login after the 401');
            assert.equal(apiCalls(tablet).length, 3, 'the first, the refused one, the retry');
        });

    it('calls wx.login again when WeChat refuses the code (ERR_WECHAT, relogin)', async (t) => {
        if (!needRoutes(t))
            return;
        let first = true;
        const s = client(newUser('badcode'), {
            login: (params, real) => {
                if (!first)
                    return real(params);
                first = false;
                setTimeout(() => params.success({ code: 'no-such-code', errMsg: 'login:ok' }), 0);
                return undefined;
            },
        });
        const res = await s.client.request({ url: server.base + '/session' });
        assert.equal(res.statusCode, 200);
        assert.equal(s.count('login'), 2);
        assert.equal(logins(s).length, 2);
        assert.equal(logins(s)[0].data.code, 'no-such-code');
    });

    it('sends the user profile at login: /session and the answer carry its nickName',
        async (t) => {
            if (!needRoutes(t))
                return;
            const user = newUser('profile');
            const s = client(user, {
                config: { profile: (wx) => new Promise((resolve, reject) =>
                    wx.getUserProfile({ desc: 'test', success: resolve, fail: reject })) },
            });
            s.wx.setUser(user, 'Profile 用户');
            const answer = await s.client.login();
            assert.equal(answer.userInfo.nickName, 'Profile 用户');
            assert.match(answer.openId, /^o/);
            assert.equal(answer.token, undefined, 'the token stays inside the client');
            const body = logins(s)[0].data;
            assert.ok(body.rawData && body.signature, 'rawData and signature sent');
            const res = await s.client.request({ url: server.base + '/session' });
            assert.equal(res.data.wxUserInfo.nickName, 'Profile 用户');
            assert.equal(res.data.wxUserInfo.openId, answer.openId);
        });
    it('getPhoneNumber turns the simulator\'s phone code into the user\'s number, once',
        async (t) => {
            if (!needPhone(t))
                return;
            const user = newUser('phone');
            const s = client(user);
            await s.client.login();
            const issued = await server.sim.phoneCode(user);
            assert.equal(typeof issued.code, 'string');
            const spy = callbackSpy();
            const info = await s.client.getPhoneNumber(issued.code, spy.options);
            await settleTicks();
            assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
            assert.equal(info.phoneNumber, issued.phoneNumber);
            assert.equal(typeof info.purePhoneNumber, 'string');
            assert.ok(info.phoneNumber.endsWith(info.purePhoneNumber));
            assert.equal(typeof info.countryCode, 'string');
            assert.equal(typeof info.watermark.appid, 'string');
            assert.equal(typeof info.watermark.timestamp, 'number');
            const phoneCalls = () => s.log.requests.filter((r) => r.url.endsWith('/phone'));
            assert.equal(header(phoneCalls()[0], 'Authorization'),
                'Bearer ' + s.wx.getStorageSync('wxsession:token'));

            await assert.rejects(s.client.getPhoneNumber(issued.code),
                (e) => e.code === 'ERR_PHONE_CODE_INVALID' && e.response.statusCode === 400,
                'a phone code works once');
            assert.equal(phoneCalls().length, 2, 'the refusal is not retried');
            assert.equal(s.count('login'), 1, 'nor answered by a login');
            assert.equal(s.client.hasSession(), true);
        });

    it('getPhoneNumber refuses a code another user was given', async (t) => {
        if (!needPhone(t))
            return;
        const owner = newUser('phoneowner');
        await client(owner).client.login();
        const theirs = await server.sim.phoneCode(owner);
        const s = client(newUser('phonethief'));
        await assert.rejects(s.client.getPhoneNumber(theirs.code),
            (e) => e.code === 'ERR_PHONE_CODE_INVALID' && e.response.statusCode === 400);
        assert.equal(s.log.requests.filter((r) => r.url.endsWith('/phone')).length, 1);
    });

    it('getPhoneNumber after a refused token: one re-login, the same code still works',
        async (t) => {
            if (!needPhone(t))
                return;
            const user = newUser('phonestale');
            const s = client(user);
            await s.client.request({ url: server.base + '/session' });
            const ended = s.wx.getStorageSync('wxsession:token');
            await s.client.logout();
            s.wx.setStorageSync('wxsession:token', ended); /* an app restarted with it */
            const restarted = client(user, { storage: s.storage });
            const issued = await server.sim.phoneCode(user);
            const info = await restarted.client.getPhoneNumber(issued.code);
            assert.equal(info.phoneNumber, issued.phoneNumber,
                'the refused token did not spend the code');
            assert.deepEqual(restarted.log.calls, ['request', 'login', 'request', 'request'],
                'the refused call, a login, the retry');
        });
    it('getPhoneNumber reports WeChat\'s billed quota as ERR_WECHAT_QUOTA, not retried',
        async (t) => {
            if (!needPhone(t))
                return;
            const user = newUser('phonequota');
            const s = client(user);
            await s.client.login();
            const issued = await server.sim.phoneCode(user);
            const answered = (await server.sim.stats()).phoneNumbers;
            await server.sim.config({ phoneQuota: answered }); /* used up */
            try {
                await assert.rejects(s.client.getPhoneNumber(issued.code),
                    (e) => e.code === 'ERR_WECHAT_QUOTA' && e.response.statusCode === 429 &&
                        e.detail.errcode === 1400001 && typeof e.retryAfter === 'number');
            } finally {
                await server.sim.config({ phoneQuota: -1 });
            }
            assert.equal(s.log.requests.filter((r) => r.url.endsWith('/phone')).length, 1);
            assert.equal(s.count('login'), 1);
            assert.equal(s.client.hasSession(), true);
        });
    it('hands /decrypt\'s 400 ERR_DECRYPT_FAILED (bad data, current key) over: no re-login',
        async (t) => {
            if (!needPhone(t))
                return;
            const s = client(newUser('baddata'));
            await s.client.login();
            const res = await s.client.request({ url: server.base + '/decrypt', method: 'POST',
                data: { encryptedData: Buffer.alloc(32, 7).toString('base64'),
                    iv: Buffer.alloc(16, 1).toString('base64') } });
            assert.equal(res.statusCode, 400);
            assert.equal(res.data.error.code, 'ERR_DECRYPT_FAILED');
            assert.equal(s.count('login'), 1, 'the key is current: logging in again cannot help');
            assert.equal(s.client.hasSession(), true);
        });
});
