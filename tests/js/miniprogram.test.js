/* miniprogram.test.js: the One Stroke mini program as far as node can check it: JSON files
 * parse, app.json's pages exist, WXML is well-formed and binds handlers the page defines, and
 * the pages run (onLoad/onReady/onShow, drawing, saving, listing, deleting, the phone number
 * button when configured and its absence when not) with a fake wx. */
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { REPO } = require('./helpers/server.js');
const { checkWxml, eventHandlers, rendered } = require('./helpers/wxml-check.js');
const { MP_DIR, loadMiniprogram, fakeWx } = require('./helpers/miniprogram.js');
const stroke = require(path.join(MP_DIR, 'utils', 'stroke.js'));

const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms || 10));

/* The draw page's getPhoneNumber button: its attributes and whether the page's data would
 * render it (its own wx:if and those around it). */
function phoneButton(page) {
    const text = fs.readFileSync(path.join(MP_DIR, 'pages', 'draw', 'draw.wxml'), 'utf8');
    const { elements } = checkWxml(text);
    const i = elements.findIndex((e) => e.tag === 'button' &&
        e.attrs['open-type'] === 'getPhoneNumber');
    assert.notEqual(i, -1, 'draw.wxml has a getPhoneNumber button');
    return { attrs: elements[i].attrs, shown: rendered(elements, i, page.data) };
}

function walk(dir) {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? (e.name === 'node_modules' || e.name === 'miniprogram_npm' ? []
            : walk(p)) : [p];
    });
}

function paint(id, createdAt) {
    const s = stroke.createStroke({ width: 300, height: 200 });
    stroke.addPoint(s, 10, 10);
    stroke.addPoint(s, 100, 80);
    stroke.addPoint(s, 200, 20);
    return { id, actions: stroke.serialize(s), createdAt, updatedAt: createdAt };
}

describe('WXML checker', () => {
    const good = [
        '<view class="a">hi {{name}}</view>',
        '<view wx:if="{{a < b && c > d}}">{{ a < b ? "x" : \'y\' }}</view><view wx:else>z</view>',
        '<input value="{{v}}" disabled /><!-- a <comment> -->',
        '<template is="t" data="{{ {a: 1, b: {c: 2}} }}"/>',
        '<wxs module="m">var f = function (a) { return a < 2 && "</view>"; };</wxs><text>x</text>',
    ];
    const bad = [
        ['<view><text>x</view></text>', /closes <text>/],
        ['<view>', /<view> is not closed/],
        ['</view>', /closes nothing/],
        ['<view class=a>x</view>', /not quoted/],
        ['<view class="a>x</view>', /closing quote/],
        ['<view>{{name</view>', /'\{\{' is not closed/],
        ['<view class="{{a">x</view>', /'\{\{' is not closed/],
        ['<view>name}}</view>', /'\}\}' without '\{\{'/],
        ['<view a="1" a="2"></view>', /duplicate attribute/],
        ['<view>1 < 2</view>', /starts no tag/],
        ['<!-- open <view></view>', /comment is not closed/],
        ['<view', /unterminated start tag/],
    ];
    for (const text of good) {
        it(`accepts ${text}`, () => assert.deepEqual(checkWxml(text).errors, []));
    }
    for (const [text, why] of bad) {
        it(`rejects ${text}`, () => {
            const { errors } = checkWxml(text);
            assert.ok(errors.some((e) => why.test(e)), `errors: ${JSON.stringify(errors)}`);
        });
    }
});

describe('mini program files', () => {
    const files = walk(MP_DIR);
    const appJson = JSON.parse(fs.readFileSync(path.join(MP_DIR, 'app.json'), 'utf8'));

    it('every .json file is valid JSON', () => {
        const jsons = files.filter((f) => f.endsWith('.json'));
        assert.ok(jsons.length >= 6);
        for (const f of jsons)
            assert.doesNotThrow(() => JSON.parse(fs.readFileSync(f, 'utf8')), f);
    });

    it('app.json lists pages that have .js .json .wxml .wxss, and the tab bar uses them',
        () => {
            assert.deepEqual(appJson.pages, ['pages/draw/draw', 'pages/list/list']);
            for (const page of appJson.pages) {
                for (const ext of ['.js', '.json', '.wxml', '.wxss'])
                    assert.ok(fs.existsSync(path.join(MP_DIR, page + ext)), page + ext);
            }
            for (const tab of appJson.tabBar.list)
                assert.ok(appJson.pages.includes(tab.pagePath), tab.pagePath);
            assert.ok(fs.existsSync(path.join(MP_DIR, appJson.sitemapLocation)));
        });

    it('every .wxml file is well-formed', () => {
        const wxmls = files.filter((f) => f.endsWith('.wxml'));
        assert.equal(wxmls.length, 2);
        for (const f of wxmls)
            assert.deepEqual(checkWxml(fs.readFileSync(f, 'utf8')).errors, [], f);
    });

    it('every .wxss file has balanced braces and closed comments', () => {
        for (const f of files.filter((x) => x.endsWith('.wxss'))) {
            const text = fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
            assert.ok(!text.includes('/*'), f + ': unclosed comment');
            let depth = 0;
            for (const c of text) {
                depth += c === '{' ? 1 : c === '}' ? -1 : 0;
                assert.ok(depth >= 0 && depth <= 1, f + ': unbalanced braces');
            }
            assert.equal(depth, 0, f);
        }
    });

    it('the event handlers bound in WXML are methods of the page', () => {
        const { pages } = loadMiniprogram(fakeWx().wx);
        for (const page of appJson.pages) {
            const { elements } = checkWxml(fs.readFileSync(path.join(MP_DIR, page + '.wxml'),
                'utf8'));
            const handlers = eventHandlers(elements);
            assert.ok(handlers.length > 0, page);
            for (const h of handlers)
                assert.equal(typeof pages[page][h], 'function', `${page}: ${h}`);
        }
    });

    it('config.js says where the server is; the phone button is off unless configured', () => {
        const { app } = loadMiniprogram(fakeWx().wx);
        assert.match(app.globalData.config.host, /^https?:\/\//);
        assert.match(app.globalData.config.basePath, /^\/[\w/-]*$/);
        assert.equal(app.globalData.config.showPhoneButton, false);
    });
});

describe('mini program pages with a fake wx', () => {
    it('draw page: logs in on show, draws a stroke by touch, saves it', async () => {
        const fake = fakeWx();
        const mp = loadMiniprogram(fake.wx);
        const page = mp.loadPage('pages/draw/draw');
        page.onLoad({});
        page.onReady();
        await page.onShow();
        assert.equal(page.data.nickName, '', 'a token login without a profile: no nickName');
        assert.equal(fake.log.logins, 1);
        const [login, first] = fake.log.requests;
        assert.match(login.url, /\/applet\/login$/);
        assert.equal(login.method, 'POST');
        assert.equal(JSON.stringify(login.data), '{"code":"mp-code-1"}', 'the code alone');
        assert.equal(first.header.Authorization, 'Bearer tok-1', 'then the token');
        assert.equal(first.header['X-WX-Code'], undefined, 'no legacy header');
        await tick();
        assert.equal(page.boardWidth, 351, 'the canvas was attached');

        page.touchStart({ touches: [{ x: 20, y: 30 }] });
        for (let i = 1; i <= 20; i++)
            page.touchMove({ touches: [{ x: 20 + i * 10, y: 30 + i * 5 }] });
        page.touchEnd({});
        assert.equal(page.data.canSave, true);
        const board = fake.log.canvases.find((c) => c.sel === '#board').canvas;
        assert.equal(board.width, 702, 'backed with device pixels');
        assert.ok(board.ctx.calls.some((c) => c[0] === 'lineTo'), 'the stroke is drawn');

        await page.save();
        assert.deepEqual(fake.log.toasts, ['已保存']);
        assert.equal(fake.paints.length, 1);
        assert.match(fake.paints[0].id, /^[A-Za-z0-9_-]{1,64}$/);
        const saved = stroke.parse(fake.paints[0].actions);
        assert.ok(saved, 'actions is a stroke');
        assert.equal(saved.points.length, 21);
        assert.deepEqual(saved.points[0], [20, 30]);
        const save = fake.log.requests[fake.log.requests.length - 1];
        assert.equal(save.header.Authorization, 'Bearer tok-1', 'later requests: the token');
        assert.equal(fake.log.tokenLogins, 1);
        assert.equal(page.data.canSave, false, 'the board is cleared');
    });

    it('draw page: no phone number button by default', async () => {
        const fake = fakeWx();
        const page = loadMiniprogram(fake.wx).loadPage('pages/draw/draw');
        page.onLoad({});
        await page.onShow();
        assert.equal(page.data.showPhoneButton, false);
        assert.equal(phoneButton(page).shown, false, 'the button is not rendered');
        assert.ok(!fake.log.requests.some((r) => r.url.endsWith('/phone')));
    });

    it('draw page: the configured phone button shows the number masked but its last 4 digits',
        async () => {
            const fake = fakeWx();
            const page = loadMiniprogram(fake.wx, { config: { showPhoneButton: true } })
                .loadPage('pages/draw/draw');
            page.onLoad({});
            await page.onShow();
            const button = phoneButton(page);
            assert.equal(button.shown, true);
            assert.equal(button.attrs['open-type'], 'getPhoneNumber');
            assert.equal(typeof page[button.attrs.bindgetphonenumber], 'function');

            await page[button.attrs.bindgetphonenumber]({ detail: { code: 'phone-ok-1',
                errMsg: 'getPhoneNumber:ok' } });
            assert.equal(page.data.phone, '*******8000');
            assert.equal(page.data.phoneError, '');
            assert.equal(page.data.phoneLoading, false);
            const req = fake.log.requests.find((r) => r.url.endsWith('/applet/phone'));
            assert.equal(req.method, 'POST');
            assert.equal(JSON.stringify(req.data), '{"code":"phone-ok-1"}');
            assert.equal(req.header.Authorization, 'Bearer tok-1', 'with the page\'s session');
            assert.equal(fake.log.tokenLogins, 1);
            assert.ok(!JSON.stringify(page.data).includes('13800138000'), 'never in full');
        });

    it('draw page: the phone button shows a refused code, WeChat\'s limit, a declined tap',
        async () => {
            const fake = fakeWx({ phone: (code) => (code === 'busy' ? { statusCode: 429,
                header: {}, data: { error: { code: 'ERR_WECHAT_QUOTA', message: 'quota' } } }
                : { statusCode: 400, header: {},
                    data: { error: { code: 'ERR_PHONE_CODE_INVALID', message: 'used' } } }) });
            const page = loadMiniprogram(fake.wx, { config: { showPhoneButton: true } })
                .loadPage('pages/draw/draw');
            page.onLoad({});
            await page.onGetPhoneNumber({ detail: { code: 'used-code' } });
            assert.equal(page.data.phone, '');
            assert.match(page.data.phoneError, /失效/);
            await page.onGetPhoneNumber({ detail: { code: 'busy' } });
            assert.match(page.data.phoneError, /稍后/);
            const calls = fake.log.requests.filter((r) => r.url.endsWith('/phone')).length;
            assert.equal(calls, 2, 'one call per tap, none retried');
            await page.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } });
            assert.match(page.data.phoneError, /未授权/);
            assert.equal(fake.log.requests.filter((r) => r.url.endsWith('/phone')).length,
                calls, 'no code, no request');
        });

    it('list page: shows thumbnails newest first, pages on reach bottom, long press deletes',
        async () => {
            const paints = Array.from({ length: 25 }, (_, i) => paint(`p${i}`, 1000 + i));
            const fake = fakeWx({ paints });
            const mp = loadMiniprogram(fake.wx);
            const page = mp.loadPage('pages/list/list');
            page.onLoad({});
            await page.onShow();
            await tick(20);
            assert.equal(page.data.paints.length, 20);
            assert.equal(page.data.paints[0].id, 'p24');
            assert.equal(page.data.more, true);
            assert.match(page.data.paints[0].time, /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
            const thumbs = fake.log.canvases.filter((c) => c.sel === '.thumb-canvas');
            assert.equal(thumbs.length, 20);
            assert.ok(thumbs.every((t) => t.canvas.ctx.calls.some((c) => c[0] === 'lineTo')),
                'each thumbnail is drawn');

            await page.onReachBottom();
            assert.equal(page.data.paints.length, 25);
            assert.equal(page.data.more, false);

            page.onLongPress({ currentTarget: { dataset: { id: 'p24' } } });
            await tick(30);
            assert.deepEqual(fake.log.modals, ['删除这幅画？']);
            assert.equal(page.data.paints.length, 24);
            assert.ok(!paints.some((p) => p.id === 'p24'));
            assert.ok(fake.log.toasts.includes('已删除'));
            assert.equal(fake.log.logins, 1, 'one login for the whole visit');
            assert.equal(fake.log.tokenLogins, 1);
        });

    it('list page: an empty list and a declined delete', async () => {
        const fake = fakeWx({ paints: [paint('only', 5)], confirm: false });
        const page = loadMiniprogram(fake.wx).loadPage('pages/list/list');
        page.onLoad({});
        await page.onShow();
        page.onLongPress({ currentTarget: { dataset: { id: 'only' } } });
        await tick(30);
        assert.equal(page.data.paints.length, 1, 'cancel keeps it');
        assert.equal(fake.paints.length, 1);
        fake.paints.length = 0;
        await page.onPullDownRefresh();
        assert.deepEqual(page.data.paints, []);
        assert.equal(page.data.loading, false);
    });
});
