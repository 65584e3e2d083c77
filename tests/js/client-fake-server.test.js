/* client-fake-server.test.js: the client against a tiny node HTTP server that answers what a
 * case needs: always ERR_SESSION_EXPIRED (the retry bound), echoed headers (the caller's are
 * kept), 503, a closed port; plus uploadFile and callbacks that throw. */
'use strict';

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { REPO } = require('./helpers/server.js');
const { scriptedWx, header, callbackSpy, watchUnhandled, settleTicks } =
    require('./helpers/scripted-wx.js');
const wxsession = require(path.join(REPO, 'client', 'wxsession.js'));

const MAGIC = 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';

function protocolError(reason) {
    return { [MAGIC]: 1, reason, error: { name: 'Error', message: 'scripted ' + reason } };
}

/* A server whose answer to each request is chosen by the current test: answer(req, body)
 * returns {status, json} or {status, text}. It also plays the simulator's login. */
function fakeServer() {
    const state = { answer: null, seen: [], logins: 0 };
    const srv = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c) => {
            body += c;
        });
        req.on('end', () => {
            if (req.url.startsWith('/__wxsim/login')) {
                state.logins++;
                const n = state.logins;
                res.setHeader('content-type', 'application/json');
                res.end(JSON.stringify({ code: `code-${n}`, rawData: '{"nickName":"测试"}',
                    signature: 'f'.repeat(40), openid: 'o-fake',
                    userInfo: { nickName: '测试' } }));
                return;
            }
            state.seen.push({ method: req.method, url: req.url, headers: req.headers, body });
            const a = state.answer(req, body);
            res.statusCode = a.status || 200;
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

describe('client against a scripted HTTP server', () => {
    const { srv, state } = fakeServer();
    let origin;

    before(async () => {
        await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
        origin = `http://127.0.0.1:${srv.address().port}`;
    });
    after(async () => {
        srv.closeAllConnections && srv.closeAllConnections();
        await new Promise((resolve) => srv.close(resolve));
    });
    beforeEach(() => {
        state.seen = [];
        state.logins = 0;
        state.answer = () => ({ json: { ok: true } });
    });

    function client(config) {
        const s = scriptedWx({ origin, user: 'fake' });
        s.client = wxsession.createClient(Object.assign({ wx: s.wx }, config));
        return s;
    }

    for (const reason of ['ERR_SESSION_EXPIRED', 'ERR_SESSION_KEY_EXCHANGE_FAILED']) {
        it(`bounds the retries when the server always answers ${reason}`, async () => {
            const watch = watchUnhandled();
            state.answer = () => ({ json: protocolError(reason) });
            const s = client();
            const spy = callbackSpy();
            const p = s.client.request(Object.assign({ url: origin + '/api' }, spy.options));
            await assert.rejects(p, (e) => e.code === reason && e.response.statusCode === 200);
            await settleTicks();
            assert.equal(s.count('request'), 3, 'the request and 2 retries (default)');
            assert.equal(s.count('login'), 3, 'each retry after a new login');
            assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
            assert.equal(spy.lastError.detail.message, 'scripted ' + reason);
            assert.deepEqual(watch.stop(), []);
        });
    }

    it('honours maxRetries (0: no retry; 5: six tries)', async () => {
        state.answer = () => ({ json: protocolError('ERR_SESSION_EXPIRED') });
        const none = client({ maxRetries: 0 });
        await assert.rejects(none.client.request({ url: origin + '/api' }));
        assert.equal(none.count('request'), 1);
        const five = client({ maxRetries: 5 });
        await assert.rejects(five.client.request({ url: origin + '/api' }));
        assert.equal(five.count('request'), 6);
    });

    it('redoes the login once for ERR_UNTRUSTED_RAW_DATA, whatever maxRetries', async () => {
        state.answer = () => ({ json: protocolError('ERR_UNTRUSTED_RAW_DATA') });
        const s = client({ maxRetries: 5 });
        await assert.rejects(s.client.request({ url: origin + '/api' }),
            (e) => e.code === 'ERR_UNTRUSTED_RAW_DATA');
        assert.equal(s.count('request'), 2);
        assert.equal(s.count('login'), 2);
    });

    it('keeps the caller\'s headers and data, adds the session headers once', async () => {
        state.answer = (req, body) => ({ json: { headers: req.headers, body } });
        const s = client();
        const callerHeader = { 'X-Trace-Id': 'abc-123', 'content-type': 'application/json',
            'x-wx-code': 'forged' };
        const frozen = JSON.stringify(callerHeader);
        const res = await s.client.request({ url: origin + '/api', method: 'POST',
            header: callerHeader, data: { hello: '世界' } });
        assert.equal(JSON.stringify(callerHeader), frozen, 'the caller\'s object is untouched');
        const got = state.seen[0];
        assert.equal(got.method, 'POST');
        assert.equal(got.headers['x-trace-id'], 'abc-123');
        assert.equal(got.headers['x-wx-code'], 'code-1', 'ours wins over a forged one');
        assert.equal(got.headers['x-wx-rawdata'], encodeURIComponent('{"nickName":"测试"}'));
        assert.equal(got.headers['x-wx-signature'], 'f'.repeat(40));
        assert.deepEqual(JSON.parse(got.body), { hello: '世界' });
        assert.equal(res.data.headers['x-trace-id'], 'abc-123');

        await s.client.request({ url: origin + '/api', header: { 'X-Trace-Id': 'second' } });
        assert.equal(state.seen[1].headers['x-trace-id'], 'second');
        assert.equal(state.seen[1].headers['x-wx-code'], 'code-1');
        assert.equal(state.seen[1].headers['x-wx-rawdata'], undefined, 'code only now');
    });

    it('passes GET data as a query string, as wx.request does', async () => {
        const s = client();
        await s.client.request({ url: origin + '/q?a=1', data: { b: 'x y', c: 2 } });
        assert.equal(state.seen[0].url, '/q?a=1&b=x%20y&c=2');
    });

    it('hands non-protocol answers (503) to success and keeps the login unconfirmed',
        async () => {
            let status = 503;
            state.answer = () => ({ status, json: { error: { code: 'ERR_STORE_UNAVAILABLE' } } });
            const s = client();
            const res = await s.client.request({ url: origin + '/api' });
            assert.equal(res.statusCode, 503);
            assert.equal(s.client.hasSession(), false);
            status = 200;
            await s.client.request({ url: origin + '/api' });
            assert.equal(s.count('login'), 1, 'the same login is sent again');
            assert.equal(header(s.log.requests[1], 'X-WX-Code'), 'code-1');
            assert.ok(header(s.log.requests[1], 'X-WX-RawData'), 'still the full login');
            assert.equal(s.client.hasSession(), true);
        });

    it('reports a transport failure to fail once, complete once, no unhandled rejection',
        async () => {
            const watch = watchUnhandled();
            const s = client();
            const spy = callbackSpy();
            const closed = http.createServer();
            await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
            const deadUrl = `http://127.0.0.1:${closed.address().port}/gone`;
            await new Promise((resolve) => closed.close(resolve));
            s.client.request(Object.assign({ url: deadUrl }, spy.options));
            // until complete is called (was: a 300 ms sleep); the deadline is a hang guard, not
            // a timing assertion; then a few more ticks in which a second call would show
            const hangGuard = Date.now() + 30000;
            while (spy.complete === 0 && Date.now() < hangGuard)
                await new Promise((resolve) => setTimeout(resolve, 10));
            await settleTicks();
            assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
            assert.equal(spy.lastError.code, 'ERR_REQUEST_FAILED');
            assert.match(spy.lastError.errMsg, /^request:fail/);
            assert.deepEqual(watch.stop(), []);
        });

    it('rejects bad options through fail, not a throw', async () => {
        const watch = watchUnhandled();
        const s = client();
        const spy = callbackSpy();
        const ret = s.client.request(Object.assign({}, spy.options));
        assert.ok(ret instanceof Promise);
        await settleTicks();
        assert.deepEqual([spy.success, spy.fail, spy.complete], [0, 1, 1]);
        assert.equal(spy.lastError.code, 'ERR_INVALID_OPTIONS');
        assert.equal(s.count('login'), 0);
        assert.deepEqual(watch.stop(), []);
    });

    it('calls complete once and not fail when success throws', async () => {
        const thrown = [];
        const s = client({ onCallbackError: (e) => thrown.push(e) });
        let fails = 0;
        let completes = 0;
        await s.client.request({
            url: origin + '/api',
            success: () => {
                throw new Error('bug in success');
            },
            fail: () => fails++,
            complete: () => completes++,
        });
        await settleTicks();
        assert.equal(fails, 0);
        assert.equal(completes, 1);
        assert.equal(thrown.length, 1);
        assert.equal(thrown[0].message, 'bug in success');
    });

    it('uploadFile goes through the session and retries on expiry', async () => {
        let n = 0;
        state.answer = (req, body) => {
            n++;
            return n === 1 ? { text: JSON.stringify(protocolError('ERR_SESSION_EXPIRED')) }
                : { text: body.includes('hello upload') ? 'stored' : 'no file' };
        };
        const s = client();
        const res = await s.client.uploadFile({ url: origin + '/upload', name: 'file',
            filePath: 'data:text/plain,hello%20upload', formData: { title: 't' } });
        assert.equal(res.data, 'stored');
        assert.equal(s.count('uploadFile'), 2);
        assert.equal(s.count('login'), 2);
        assert.equal(state.seen[1].headers['x-wx-code'], 'code-2');
        assert.match(state.seen[1].headers['content-type'], /^multipart\/form-data/);
    });

    it('the default client uses the global wx', async () => {
        const s = scriptedWx({ origin, user: 'global' });
        global.wx = s.wx;
        try {
            wxsession.clearSession();
            const res = await wxsession.request({ url: origin + '/api' });
            assert.deepEqual(res.data, { ok: true });
            assert.deepEqual(s.log.calls, ['login', 'getUserInfo', 'request']);
        } finally {
            delete global.wx;
        }
    });
});
