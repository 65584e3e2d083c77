/* units.test.js: the pure parts: protocol helpers, the browser adapter's request encoding,
 * the stroke format, and the <script> (no module system) form of every client file. */
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { REPO } = require('./helpers/server.js');
const protocol = require(path.join(REPO, 'client', 'protocol.js'));
const { buildRequest } = require(path.join(REPO, 'client', 'browser-wx.js'));
const stroke = require(path.join(REPO, 'examples', 'one-stroke', 'miniprogram', 'utils', 'stroke.js'));
const { recordingContext } = require('./helpers/miniprogram.js');

const CLIENT_SCRIPTS = ['protocol.js', 'token-protocol.js', 'errors.js', 'callbacks.js',
    'wxcall.js', 'session.js', 'token-session.js', 'legacy-client.js', 'token-client.js',
    'wxsession.js', 'browser-wx.js'];

describe('protocol helpers', () => {
    it('sends the whole login until the server confirms it, then the code only', () => {
        const s = { code: 'c1', rawData: '{"nickName":"微信用户"}', signature: 'ab',
            confirmed: false };
        assert.deepEqual(protocol.sessionHeaders(s), { 'X-WX-Code': 'c1',
            'X-WX-RawData': '%7B%22nickName%22%3A%22%E5%BE%AE%E4%BF%A1%E7%94%A8%E6%88%B7%22%7D',
            'X-WX-Signature': 'ab' });
        s.confirmed = true;
        assert.deepEqual(protocol.sessionHeaders(s), { 'X-WX-Code': 'c1' });
    });

    it('merges headers without touching the caller\'s and without duplicate names', () => {
        const caller = { A: '1', 'x-wx-code': 'mine' };
        const out = protocol.mergeHeaders(caller, { 'X-WX-Code': 'ours' });
        assert.deepEqual(out, { A: '1', 'X-WX-Code': 'ours' });
        assert.deepEqual(caller, { A: '1', 'x-wx-code': 'mine' });
        assert.deepEqual(protocol.mergeHeaders(undefined, { B: '2' }), { B: '2' });
    });

    it('recognises protocol errors in parsed and text bodies only', () => {
        const body = { [protocol.MAGIC_KEY]: 1, reason: 'ERR_SESSION_EXPIRED',
            error: { name: 'Error', message: 'm' } };
        assert.deepEqual(protocol.protocolError(body),
            { reason: 'ERR_SESSION_EXPIRED', error: { name: 'Error', message: 'm' } });
        assert.equal(protocol.protocolError(JSON.stringify(body)).reason, 'ERR_SESSION_EXPIRED');
        assert.equal(protocol.protocolError({ [protocol.MAGIC_KEY]: 1,
            error: { name: 'SyntaxError' } }).reason, '');
        for (const other of [null, 'text', '{"code":-1}', { code: 0 }, 42, undefined])
            assert.equal(protocol.protocolError(other), null);
    });
});

describe('browser adapter request encoding', () => {
    it('puts GET data in the query string', () => {
        const r = buildRequest({ url: 'http://h/p?x=1', data: { a: 'b c', n: 2, o: { k: 1 } } });
        assert.equal(r.url, 'http://h/p?x=1&a=b%20c&n=2&o=%7B%22k%22%3A1%7D');
        assert.equal(r.init.method, 'GET');
        assert.equal(r.init.body, undefined);
    });

    it('sends JSON by default and a form when asked', () => {
        const j = buildRequest({ url: 'http://h/', method: 'post', data: { id: 'x' } });
        assert.equal(j.init.method, 'POST');
        assert.equal(j.init.headers['content-type'], 'application/json');
        assert.equal(j.init.body, '{"id":"x"}');
        const f = buildRequest({ url: 'http://h/', method: 'POST', data: { id: 'a b' },
            header: { 'Content-Type': 'application/x-www-form-urlencoded' } });
        assert.equal(f.init.body, 'id=a%20b');
        assert.equal(f.init.headers['content-type'], undefined, 'the caller\'s name is kept');
    });
});

describe('stroke format', () => {
    it('round-trips through actions text and drops points that add nothing', () => {
        const s = stroke.createStroke({ width: 300, height: 200 });
        assert.equal(stroke.addPoint(s, 10, 10), true);
        assert.equal(stroke.addPoint(s, 10.5, 10.5), false, 'closer than the minimum step');
        assert.equal(stroke.addPoint(s, 500, -5), true);
        assert.deepEqual(s.points, [[10, 10], [300, 0]], 'clamped to the board');
        const text = stroke.serialize(s);
        assert.deepEqual(stroke.parse(text), s);
    });

    it('rejects what is not a stroke', () => {
        for (const bad of ['', 'x', '{}', '{"v":2,"width":1,"height":1,"color":"#000",' +
            '"lineWidth":1,"points":[]}', '{"v":1,"width":1,"height":1,"color":"red",' +
            '"lineWidth":1,"points":[]}', '{"v":1,"width":1,"height":1,"color":"#000",' +
            '"lineWidth":1,"points":[[1]]}', null])
            assert.equal(stroke.parse(bad), null, String(bad));
    });

    it('bounds the number of points', () => {
        const s = stroke.createStroke({ width: 10000, height: 10000 });
        for (let i = 0; i < stroke.MAX_POINTS + 10; i++)
            stroke.addPoint(s, (i % 100) * 3, Math.floor(i / 100) * 3);
        assert.equal(s.points.length, stroke.MAX_POINTS);
    });

    it('draws scaled and centred onto any size', () => {
        const s = stroke.createStroke({ width: 200, height: 100, lineWidth: 4 });
        stroke.addPoint(s, 0, 0);
        stroke.addPoint(s, 200, 100);
        const ctx = recordingContext();
        stroke.draw(ctx, s, 100, 100);
        assert.deepEqual(ctx.calls.filter((c) => c[0] === 'moveTo' || c[0] === 'lineTo'),
            [['moveTo', 0, 25], ['lineTo', 100, 75]]);
        assert.equal(ctx.lineWidth, 2);
        const empty = recordingContext();
        stroke.draw(empty, null, 10, 10);
        assert.deepEqual(empty.calls, [['fillRect', 0, 0, 10, 10]]);
    });

    it('makes ids the server accepts', () => {
        const ids = new Set(Array.from({ length: 100 }, () => stroke.newId()));
        assert.equal(ids.size, 100);
        for (const id of ids)
            assert.match(id, /^[A-Za-z0-9_-]{1,64}$/);
    });
});

describe('client files as plain <script>s', () => {
    it('build the window.wxsession namespace in page order, with no module system', () => {
        const window = { fetch: () => Promise.reject(new Error('offline')), console };
        window.globalThis = window;
        const context = vm.createContext(window);
        for (const f of CLIENT_SCRIPTS) {
            const src = fs.readFileSync(path.join(REPO, 'client', f), 'utf8');
            vm.runInContext(src, context, { filename: f });
        }
        const ns = window.wxsession;
        for (const k of ['createClient', 'request', 'uploadFile', 'clearSession',
            'createBrowserWx', 'protocol', 'tokenProtocol', 'session', 'tokenSession', 'errors',
            'callbacks', 'wxcall', 'legacyClient', 'tokenClient'])
            assert.ok(ns[k], k);
        const wx = ns.createBrowserWx({ origin: 'http://127.0.0.1:9', user: 'u' });
        assert.equal(wx.getUser(), 'u');
        assert.equal(ns.createClient({ wx }).mode, 'legacy');
        assert.equal(ns.createClient({ wx, baseUrl: '/applet' }).mode, 'token');
    });

    it('the web page loads exactly these client files', () => {
        const html = fs.readFileSync(path.join(REPO, 'examples', 'one-stroke', 'web',
            'index.html'), 'utf8');
        const loaded = [...html.matchAll(/<script src="client\/([^"]+)"/g)].map((m) => m[1]);
        assert.deepEqual(loaded, CLIENT_SCRIPTS);
    });

    it('every client file is flat in client/ and listed in its package.json', () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'client', 'package.json'),
            'utf8'));
        const onDisk = fs.readdirSync(path.join(REPO, 'client'))
            .filter((f) => /\.(js|d\.ts)$/.test(f));
        for (const f of onDisk)
            assert.ok(pkg.files.includes(f), f);
        assert.equal(pkg.miniprogram, '.');
        assert.ok(fs.existsSync(path.join(REPO, 'client', pkg.main)));
        assert.ok(fs.existsSync(path.join(REPO, 'client', pkg.types)));
    });
});
