/* client-token-fake.test.js: the client's token mode against a tiny node HTTP server that
 * plays /login, /logout and a Bearer-checked API, and answers what a case scripts: one login
 * for concurrent first requests, Bearer on every request, a 401 answered by one re-login and
 * one retry (never a loop), ERR_WECHAT with relogin, logout and logout all, the token kept in
 * storage across client instances, the profile sent at login, getPhoneNumber (a re-login and
 * retry after a 401, never a retry of WeChat's refusals), the mode a config selects. */
'use strict';

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { REPO } = require('./helpers/server.js');
const { scriptedWx, header, callbackSpy, watchUnhandled, settleTicks } =
    require('./helpers/scripted-wx.js');
const wxsession = require(path.join(REPO, 'client', 'wxsession.js'));

const BASE_PATH = '/applet';

function apiError(status, code, extra) {
    return { status, json: { error: Object.assign({ code, message: 'scripted ' + code },
        extra || {}) } };
}

/* A server for token mode. state.loginAnswer(n, body) and state.apiAnswer(req, body, user)
 * script /login and the API; by default /login issues tok-<n> and the API answers 200 for a
 * token it issued (and has not dropped), else 401 ERR_TOKEN_INVALID. */
function fakeServer() {
    const state = { seen: [], simLogins: 0, logins: [], logouts: [], tokens: new Map() };
    const defaults = {
        loginAnswer: (n) => ({ json: { token: `tok-${n}`, expiresIn: 604800,
            openId: 'o-fake', unionId: null, userInfo: null } }),
        apiAnswer: (req, body, user) => (user ? { json: { ok: true, user } }
            : apiError(401, 'ERR_TOKEN_INVALID')),
    };
    Object.assign(state, defaults);
    state.reset = () => {
        Object.assign(state, defaults, { seen: [], simLogins: 0, logins: [], logouts: [] });
        state.tokens.clear();
    };

    function answer(req, body) {
        const auth = /^Bearer (.+)$/.exec(req.headers.authorization || '');
        const user = auth ? state.tokens.get(auth[1]) : undefined;
        if (req.url === BASE_PATH + '/login') {
            state.logins.push(JSON.parse(body));
            const a = state.loginAnswer(state.logins.length, JSON.parse(body));
            if (a.json && a.json.token)
                state.tokens.set(a.json.token, 'o-fake');
            return a;
        }
        if (req.url === BASE_PATH + '/logout') {
            state.logouts.push({ token: auth && auth[1], body: JSON.parse(body) });
            if (!user)
                return apiError(401, 'ERR_TOKEN_INVALID');
            state.tokens.delete(auth[1]);
            return { json: { ok: true } };
        }
        return state.apiAnswer(req, body, user);
    }

    const srv = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c) => {
            body += c;
        });
        req.on('end', () => {
            if (req.url.startsWith('/__wxsim/login')) {
                state.simLogins++;
                res.setHeader('content-type', 'application/json');
                res.end(JSON.stringify({ code: `code-${state.simLogins}`,
                    rawData: '{"nickName":"测试"}', signature: 'f'.repeat(40), openid: 'o-fake',
                    encryptedData: 'ZW5j', iv: 'aXY=', userInfo: { nickName: '测试' } }));
                return;
            }
            state.seen.push({ method: req.method, url: req.url, headers: req.headers, body });
            const a = answer(req, body);
            res.statusCode = a.status || 200;
            for (const [k, v] of Object.entries(a.headers || {}))
                res.setHeader(k, v);
            if (a.text !== undefined) {
                res.end(a.text);
            } else {
                res.setHeader('content-type', 'application/json; charset=utf-8');
                res.end(JSON.stringify(a.json));
            }
        });
    });
    return { srv, state };
}

describe('token mode against a scripted HTTP server', () => {
    const { srv, state } = fakeServer();
    let origin;
    let base;

    before(async () => {
        await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
        origin = `http://127.0.0.1:${srv.address().port}`;
        base = origin + BASE_PATH;
    });
    after(async () => {
        srv.closeAllConnections && srv.closeAllConnections();
        await new Promise((resolve) => srv.close(resolve));
    });
    beforeEach(() => state.reset());

    function client(config, wxOptions) {
        const s = scriptedWx(Object.assign({ origin, user: 'fake' }, wxOptions));
        s.client = wxsession.createClient(Object.assign({ wx: s.wx, mode: 'token',
            baseUrl: base }, config));
        return s;
    }
    const apiRequests = () => state.seen.filter((r) => !/\/log(in|out)$/.test(r.url));

    it('makes one wx.login and one POST /login for 10 concurrent first requests', async () => {
        const s = client();
        const all = await Promise.all(Array.from({ length: 10 },
            () => s.client.request({ url: base + '/session' })));
        assert.ok(all.every((r) => r.statusCode === 200 && r.data.user === 'o-fake'));
        assert.equal(s.count('login'), 1);
        assert.equal(s.count('getUserInfo'), 0, 'token mode does not call getUserInfo');
        assert.deepEqual(state.logins, [{ code: 'code-1' }], 'the code alone, once');
        assert.equal(state.seen[0].method, 'POST');
        assert.match(state.seen[0].headers['content-type'], /^application\/json/);
        assert.equal(state.seen[0].headers.authorization, undefined, 'no token to log in');
        assert.equal(apiRequests().length, 10);
        assert.ok(apiRequests().every((r) => r.headers.authorization === 'Bearer tok-1'));
        assert.equal(s.client.hasSession(), true);
    });

    it('sends the token on every request, keeps the caller\'s headers, no X-WX-*', async () => {
        const s = client();
        const callerHeader = { 'X-Trace-Id': 'abc', authorization: 'Bearer forged' };
        const frozen = JSON.stringify(callerHeader);
        await s.client.request({ url: base + '/session/paints/save', method: 'POST',
            header: callerHeader, data: { id: 'x', actions: '{}' } });
        await s.client.request({ url: base + '/me' });
        assert.equal(JSON.stringify(callerHeader), frozen, 'the caller\'s object is untouched');
        const [save, me] = apiRequests();
        assert.equal(save.headers.authorization, 'Bearer tok-1', 'ours wins over a forged one');
        assert.equal(save.headers['x-trace-id'], 'abc');
        assert.deepEqual(JSON.parse(save.body), { id: 'x', actions: '{}' });
        assert.equal(me.headers.authorization, 'Bearer tok-1');
        for (const r of apiRequests())
            assert.equal(Object.keys(r.headers).filter((h) => h.startsWith('x-wx-')).length, 0);
        assert.equal(state.logins.length, 1);
    });

    it('keeps the token in wx storage: another client instance uses it without a login',
        async () => {
            const s = client();
            await s.client.request({ url: base + '/session' });
            assert.equal(s.wx.getStorageSync('wxsession:token'), 'tok-1');
            const restarted = client({}, { storage: s.storage });
            assert.equal(restarted.client.hasSession(), true);
            const res = await restarted.client.request({ url: base + '/session' });
            assert.equal(res.statusCode, 200);
            assert.deepEqual(restarted.log.calls, ['request'], 'no new login');
            assert.equal(header(restarted.log.requests[0], 'Authorization'), 'Bearer tok-1');
            const other = client({ storageKey: 'another:key' }, { storage: s.storage });
            assert.equal(other.client.hasSession(), false, 'a storageKey of its own');
        });

    for (const code of ['ERR_TOKEN_INVALID', 'ERR_TOKEN_EXPIRED', 'ERR_SESSION_KEY_STALE']) {
        it(`answers 401 ${code} with one re-login and one retry`, async () => {
            let n = 0;
            state.apiAnswer = (req, body, user) => (++n === 1 ? apiError(401, code)
                : { json: { ok: true, user } });
            const s = client();
            const spy = callbackSpy();
            const res = await s.client.request(Object.assign({ url: base + '/session' },
                spy.options));
            await settleTicks();
            assert.equal(res.statusCode, 200);
            assert.deepEqual(s.log.calls, ['login', 'request', 'request', 'login', 'request',
                'request'], 'login, API, re-login, retry');
            assert.equal(header(s.log.requests[3], 'Authorization'), 'Bearer tok-2');
            assert.equal(s.wx.getStorageSync('wxsession:token'), 'tok-2');
            assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
        });
    }

    it('does not loop: a 401 after the re-login fails the request', async () => {
        const watch = watchUnhandled();
        state.apiAnswer = () => apiError(401, 'ERR_TOKEN_EXPIRED');
        const s = client();
        const spy = callbackSpy();
        const p = s.client.request(Object.assign({ url: base + '/session' }, spy.options));
        await assert.rejects(p, (e) => e.name === 'WxSessionError' &&
            e.code === 'ERR_TOKEN_EXPIRED' && e.response.statusCode === 401 &&
            e.detail.message === 'scripted ERR_TOKEN_EXPIRED');
        await settleTicks();
        assert.equal(apiRequests().length, 2, 'the request and one retry');
        assert.equal(state.logins.length, 2, 'the login and one re-login');
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(s.client.hasSession(), false);
        assert.deepEqual(watch.stop(), []);
    });

    it('re-logs in once for concurrent requests whose token ended', async () => {
        const s = client();
        await s.client.request({ url: base + '/session' });
        state.tokens.clear(); /* every token ends on the server */
        const all = await Promise.all(Array.from({ length: 5 },
            () => s.client.request({ url: base + '/session' })));
        assert.ok(all.every((r) => r.statusCode === 200));
        assert.equal(state.logins.length, 2, 'the first login and one re-login');
        assert.equal(s.count('login'), 2);
    });

    it('hands other error answers (503, 404) to success and keeps the token', async () => {
        state.apiAnswer = () => apiError(503, 'ERR_STORE_UNAVAILABLE');
        const s = client();
        const res = await s.client.request({ url: base + '/session' });
        assert.equal(res.statusCode, 503);
        assert.equal(res.data.error.code, 'ERR_STORE_UNAVAILABLE');
        assert.equal(s.client.hasSession(), true);
        state.apiAnswer = () => ({ status: 404, json: { error: { code: 'ERR_NOT_FOUND' } } });
        assert.equal((await s.client.request({ url: base + '/nothing' })).statusCode, 404);
        assert.equal(state.logins.length, 1);
    });

    it('calls wx.login again once when /login answers ERR_WECHAT with relogin', async () => {
        state.loginAnswer = (n) => (n === 1 ? apiError(502, 'ERR_WECHAT',
            { errcode: 40163, errmsg: 'code been used', relogin: true })
            : { json: { token: 'tok-fresh', expiresIn: 60, openId: 'o-fake', unionId: 'u-1',
                userInfo: null } });
        const s = client();
        const res = await s.client.request({ url: base + '/session' });
        assert.equal(res.statusCode, 200);
        assert.equal(s.count('login'), 2);
        assert.deepEqual(state.logins, [{ code: 'code-1' }, { code: 'code-2' }],
            'a new code for the second try');
        assert.equal(header(s.log.requests[2], 'Authorization'), 'Bearer tok-fresh');
    });

    it('fails after the second ERR_WECHAT relogin, and at once without relogin', async () => {
        state.loginAnswer = () => apiError(502, 'ERR_WECHAT',
            { errcode: 40029, errmsg: 'invalid code', relogin: true });
        const s = client();
        await assert.rejects(s.client.request({ url: base + '/session' }),
            (e) => e.code === 'ERR_WECHAT' && e.relogin === true && e.detail.errcode === 40029 &&
                e.detail.errmsg === 'invalid code' && e.response.statusCode === 502);
        assert.equal(state.logins.length, 2, 'two codes, then give up');
        assert.equal(apiRequests().length, 0);

        state.reset();
        state.loginAnswer = () => apiError(502, 'ERR_WECHAT',
            { errcode: -1, errmsg: 'system error', relogin: false });
        const t = client();
        await assert.rejects(t.client.request({ url: base + '/session' }),
            (e) => e.code === 'ERR_WECHAT' && e.relogin === false);
        assert.equal(state.logins.length, 1, 'not retried');
    });

    it('reports 429 ERR_TOO_MANY_LOGINS with its Retry-After, and a token-less 200', async () => {
        state.loginAnswer = () => Object.assign(apiError(429, 'ERR_TOO_MANY_LOGINS'),
            { headers: { 'Retry-After': '7' } });
        const s = client();
        await assert.rejects(s.client.request({ url: base + '/session' }),
            (e) => e.code === 'ERR_TOO_MANY_LOGINS' && e.retryAfter === 7);
        assert.equal(state.logins.length, 1);

        state.loginAnswer = () => ({ json: { expiresIn: 1 } });
        await assert.rejects(s.client.request({ url: base + '/session' }),
            (e) => e.code === 'ERR_LOGIN_FAILED' && e.response.statusCode === 200);
        assert.equal(s.client.hasSession(), false);
    });

    it('logout() posts /logout with the token, then forgets it', async () => {
        const s = client();
        await s.client.request({ url: base + '/session' });
        const res = await s.client.logout();
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.data, { ok: true });
        assert.deepEqual(state.logouts, [{ token: 'tok-1', body: {} }]);
        assert.equal(s.client.hasSession(), false);
        assert.equal(s.wx.getStorageSync('wxsession:token'), '');
        await s.client.request({ url: base + '/session' });
        assert.equal(state.logins.length, 2, 'the next request logs in anew');
        assert.equal(header(s.log.requests[s.log.requests.length - 1], 'Authorization'),
            'Bearer tok-2');
    });

    it('logout({all: true}) asks for every session; with no token it sends nothing',
        async () => {
            const s = client();
            await s.client.request({ url: base + '/session' });
            const spy = callbackSpy();
            await s.client.logout(Object.assign({ all: true }, spy.options));
            await settleTicks();
            assert.deepEqual(state.logouts, [{ token: 'tok-1', body: { all: true } }]);
            assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
            assert.equal(await s.client.logout(), null);
            assert.equal(state.logouts.length, 1);
        });

    it('logout() of a token the server already ended resolves; a 503 rejects, token gone',
        async () => {
            const s = client();
            await s.client.request({ url: base + '/session' });
            state.tokens.clear();
            assert.equal((await s.client.logout()).statusCode, 401);
            assert.equal(s.client.hasSession(), false);

            const down = client({}, { request: (params, inner) => (params.url.endsWith('/logout')
                ? params.success({ statusCode: 503, header: {},
                    data: { error: { code: 'ERR_STORE_UNAVAILABLE', message: 'down' } } })
                : inner(params)) });
            await down.client.request({ url: base + '/session' });
            await assert.rejects(down.client.logout(),
                (e) => e.code === 'ERR_STORE_UNAVAILABLE' && e.response.statusCode === 503);
            assert.equal(down.client.hasSession(), false, 'forgotten all the same');
            assert.equal(down.wx.getStorageSync('wxsession:token'), '');
        });

    it('sends the profile hook\'s fields with the code, asked after wx.login', async () => {
        const s = client({ profile: (wx) => new Promise((resolve, reject) =>
            wx.getUserProfile({ desc: 'test', success: resolve, fail: reject })) });
        await s.client.request({ url: base + '/session' });
        assert.deepEqual(s.log.calls.slice(0, 2), ['login', 'getUserProfile']);
        assert.deepEqual(state.logins, [{ code: 'code-1', rawData: '{"nickName":"测试"}',
            signature: 'f'.repeat(40), encryptedData: 'ZW5j', iv: 'aXY=' }]);
    });

    it('login({profile}) logs in now with that profile and resolves without the token',
        async () => {
            state.loginAnswer = (n) => ({ json: { token: `tok-${n}`, expiresIn: 604800,
                openId: 'o-fake', unionId: 'u-fake', userInfo: { nickName: '测试' } } });
            const s = client();
            const spy = callbackSpy();
            const answer = await s.client.login(Object.assign({ profile: { encryptedData: 'e',
                iv: 'i', userInfo: { ignored: true } } }, spy.options));
            await settleTicks();
            assert.deepEqual(answer, { openId: 'o-fake', unionId: 'u-fake',
                userInfo: { nickName: '测试' }, expiresIn: 604800 });
            assert.deepEqual(state.logins, [{ code: 'code-1', encryptedData: 'e', iv: 'i' }]);
            assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
            await s.client.request({ url: base + '/session' });
            assert.equal(state.logins.length, 1, 'requests use the token login() got');
            assert.equal(header(s.log.requests[1], 'Authorization'), 'Bearer tok-1');
        });

    it('sends the token only to baseUrl\'s origin', async () => {
        const watch = watchUnhandled();
        const s = client();
        const spy = callbackSpy();
        s.client.request(Object.assign({ url: 'http://127.0.0.1:9/elsewhere' }, spy.options));
        await settleTicks();
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(spy.lastError.code, 'ERR_INVALID_OPTIONS');
        assert.equal(s.count('login'), 0);
        assert.equal(state.seen.length, 0);
        assert.deepEqual(watch.stop(), []);
    });

    it('uploadFile carries the token and retries once after a 401', async () => {
        let n = 0;
        state.apiAnswer = (req, body, user) => (++n === 1 ? apiError(401, 'ERR_TOKEN_INVALID')
            : { text: user && body.includes('hello upload') ? 'stored' : 'no' });
        const s = client();
        const res = await s.client.uploadFile({ url: base + '/upload', name: 'file',
            filePath: 'data:text/plain,hello%20upload' });
        assert.equal(res.data, 'stored');
        assert.equal(s.count('uploadFile'), 2);
        assert.equal(apiRequests()[1].headers.authorization, 'Bearer tok-2');
        assert.match(apiRequests()[1].headers['content-type'], /^multipart\/form-data/);
    });
});

describe('getPhoneNumber against a scripted HTTP server', () => {
    const { srv, state } = fakeServer();
    const PHONE_INFO = { phoneNumber: '+8613800138000', purePhoneNumber: '13800138000',
        countryCode: '86', watermark: { timestamp: 1700000000, appid: 'wx-fake' } };
    let base;

    before(async () => {
        await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${srv.address().port}${BASE_PATH}`;
    });
    after(async () => {
        srv.closeAllConnections && srv.closeAllConnections();
        await new Promise((resolve) => srv.close(resolve));
    });
    beforeEach(() => state.reset());

    function client() {
        const s = scriptedWx({ origin: base.replace(BASE_PATH, ''), user: 'fake' });
        s.client = wxsession.createClient({ wx: s.wx, mode: 'token', baseUrl: base });
        return s;
    }
    const phoneRequests = () => state.seen.filter((r) => r.url === BASE_PATH + '/phone');
    /* /phone answers phone(n, body) for its n-th call with a token the server knows. */
    function scriptPhone(phone) {
        let n = 0;
        state.apiAnswer = (req, body, user) => {
            if (req.url !== BASE_PATH + '/phone')
                return user ? { json: { ok: true, user } } : apiError(401, 'ERR_TOKEN_INVALID');
            if (!user)
                return apiError(401, 'ERR_TOKEN_INVALID');
            return phone(++n, JSON.parse(body));
        };
    }

    it('posts {"code"} with the token to /phone and resolves to the phone_info', async () => {
        scriptPhone((n, body) => (body.code === 'phone-code-1' ? { json: PHONE_INFO }
            : apiError(400, 'ERR_PHONE_CODE_INVALID')));
        const s = client();
        const spy = callbackSpy();
        const info = await s.client.getPhoneNumber('phone-code-1', spy.options);
        await settleTicks();
        assert.deepEqual(info, PHONE_INFO);
        assert.deepEqual([spy.success, spy.fail, spy.complete], [1, 0, 1]);
        assert.deepEqual(spy.lastResult, PHONE_INFO);
        const [req] = phoneRequests();
        assert.equal(req.method, 'POST');
        assert.equal(req.headers.authorization, 'Bearer tok-1');
        assert.match(req.headers['content-type'], /^application\/json/);
        assert.deepEqual(JSON.parse(req.body), { code: 'phone-code-1' });
        assert.equal(state.logins.length, 1, 'logged in first, as any request does');
    });

    for (const code of ['ERR_TOKEN_EXPIRED', 'ERR_TOKEN_INVALID']) {
        it(`answers 401 ${code} with one re-login and one retry of the same code`, async () => {
            scriptPhone((n) => (n === 1 ? apiError(401, code) : { json: PHONE_INFO }));
            const s = client();
            assert.deepEqual(await s.client.getPhoneNumber('phone-code-1'), PHONE_INFO);
            assert.equal(state.logins.length, 2, 'the login and one re-login');
            const [first, retry] = phoneRequests();
            assert.equal(first.headers.authorization, 'Bearer tok-1');
            assert.equal(retry.headers.authorization, 'Bearer tok-2');
            assert.deepEqual(JSON.parse(retry.body), { code: 'phone-code-1' },
                'the same code: the refused token never reached WeChat');
            assert.equal(s.wx.getStorageSync('wxsession:token'), 'tok-2');
        });
    }

    it('does not loop: a second 401 rejects with its code', async () => {
        scriptPhone(() => apiError(401, 'ERR_TOKEN_EXPIRED'));
        const s = client();
        await assert.rejects(s.client.getPhoneNumber('phone-code-1'),
            (e) => e.name === 'WxSessionError' && e.code === 'ERR_TOKEN_EXPIRED' &&
                e.response.statusCode === 401);
        assert.equal(phoneRequests().length, 2, 'the call and one retry');
        assert.equal(state.logins.length, 2);
        assert.equal(s.client.hasSession(), false);
    });

    const quota = () => Object.assign(apiError(429, 'ERR_WECHAT_QUOTA',
        { errcode: 1400001, errmsg: 'quota exhausted' }), { headers: { 'Retry-After': '60' } });
    /* [code, /phone's answer, what else the error carries] */
    const never = [
        ['ERR_PHONE_CODE_INVALID', () => apiError(400, 'ERR_PHONE_CODE_INVALID'),
            (e) => e.detail.status === 400],
        ['ERR_WECHAT_QUOTA', quota,
            (e) => e.detail.status === 429 && e.detail.errcode === 1400001 && e.retryAfter === 60],
        ['ERR_WECHAT', () => apiError(502, 'ERR_WECHAT', { errcode: -1, errmsg: 'system busy' }),
            (e) => e.detail.errcode === -1 && e.detail.errmsg === 'system busy'],
        ['ERR_BAD_REQUEST', () => apiError(400, 'ERR_BAD_REQUEST'), () => true],
        ['ERR_STORE_UNAVAILABLE', () => apiError(503, 'ERR_STORE_UNAVAILABLE'), () => true],
    ];
    for (const [code, answer, check] of never) {
        it(`rejects ${code} at once: no retry, no re-login, the token kept`, async () => {
            const watch = watchUnhandled();
            scriptPhone(answer);
            const s = client();
            const spy = callbackSpy();
            await s.client.getPhoneNumber('phone-code-1', spy.options).catch(() => {});
            await settleTicks();
            assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
            const e = spy.lastError;
            assert.equal(e.name, 'WxSessionError');
            assert.equal(e.code, code);
            assert.equal(e.reason, code);
            assert.ok(check(e), JSON.stringify(e.detail));
            assert.equal(phoneRequests().length, 1, 'one call: WeChat bills each');
            assert.equal(state.logins.length, 1, 'no re-login');
            assert.equal(s.client.hasSession(), true);
            assert.deepEqual(watch.stop(), []);
        });
    }

    it('refuses a missing or empty code before sending anything', async () => {
        const watch = watchUnhandled();
        const s = client();
        for (const bad of [undefined, null, '', 42, { code: 'x' }]) {
            await assert.rejects(s.client.getPhoneNumber(bad),
                (e) => e.code === 'ERR_INVALID_OPTIONS' && /code/.test(e.errMsg));
        }
        const spy = callbackSpy();
        await s.client.getPhoneNumber('', spy.options).catch(() => {});
        await settleTicks();
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(state.seen.length, 0, 'no login, no /phone');
        assert.equal(s.count('login'), 0);
        assert.deepEqual(watch.stop(), []);
    });

    it('rejects a 2xx without a phone number and an error answer without a code', async () => {
        scriptPhone((n) => (n === 1 ? { json: { ok: true } }
            : { status: 404, text: '<html>not found</html>' }));
        const s = client();
        await assert.rejects(s.client.getPhoneNumber('phone-code-1'),
            (e) => e.code === 'ERR_UNEXPECTED_RESPONSE' && e.response.statusCode === 200);
        await assert.rejects(s.client.getPhoneNumber('phone-code-2'),
            (e) => e.code === 'ERR_UNEXPECTED_RESPONSE' && e.response.statusCode === 404);
        assert.equal(phoneRequests().length, 2);
        assert.equal(state.logins.length, 1);
    });

    it('hands 400 ERR_DECRYPT_FAILED from /decrypt to the caller without a re-login',
        async () => {
            state.apiAnswer = (req, body, user) => (user ? apiError(400, 'ERR_DECRYPT_FAILED')
                : apiError(401, 'ERR_TOKEN_INVALID'));
            const s = client();
            const res = await s.client.request({ url: base + '/decrypt', method: 'POST',
                data: { encryptedData: 'ZW5j', iv: 'aXY=' } });
            assert.equal(res.statusCode, 400);
            assert.equal(res.data.error.code, wxsession.tokenCodes.DECRYPT_FAILED);
            assert.equal(state.logins.length, 1, 'not a reason to log in again');
            assert.equal(state.seen.filter((r) => r.url.endsWith('/decrypt')).length, 1);
            assert.equal(s.client.hasSession(), true);
        });
});

describe('createClient picks the mode', () => {
    const wx = scriptedWx({ origin: 'http://127.0.0.1:9', user: 'm' }).wx;

    it('legacy for configs written before token mode, token with a baseUrl', () => {
        assert.equal(wxsession.createClient().mode, 'legacy');
        assert.equal(wxsession.createClient({ wx, maxRetries: 1, storageKey: 'k' }).mode,
            'legacy');
        assert.equal(wxsession.createClient({ wx, baseUrl: '/applet' }).mode, 'token');
        assert.equal(wxsession.createClient({ wx, mode: 'legacy', baseUrl: '/applet' }).mode,
            'legacy');
        assert.equal(wxsession.createClient({ wx, mode: 'token', baseUrl: '/applet' }).mode,
            'token');
        assert.equal(typeof wxsession.createClient({ wx, baseUrl: '/a' }).logout, 'function');
    });

    it('refuses token mode without baseUrl and an unknown mode', () => {
        assert.throws(() => wxsession.createClient({ wx, mode: 'token' }),
            (e) => e.code === 'ERR_INVALID_OPTIONS' && /baseUrl/.test(e.message));
        assert.throws(() => wxsession.createClient({ wx, mode: 'jwt', baseUrl: '/a' }),
            (e) => e.code === 'ERR_INVALID_OPTIONS');
    });

    it('the module\'s own request() stays legacy (the original client\'s API)', () => {
        assert.equal(wxsession.tokenCodes.TOKEN_INVALID, 'ERR_TOKEN_INVALID');
        assert.equal(wxsession.tokenCodes.PHONE_CODE_INVALID, 'ERR_PHONE_CODE_INVALID');
        assert.equal(wxsession.tokenCodes.WECHAT_QUOTA, 'ERR_WECHAT_QUOTA');
        assert.equal(wxsession.codes.UNEXPECTED_RESPONSE, 'ERR_UNEXPECTED_RESPONSE');
        assert.equal(wxsession.getPhoneNumber, undefined, 'token mode only');
        assert.equal(typeof wxsession.request, 'function');
        assert.equal(wxsession.logout, undefined);
    });
});
