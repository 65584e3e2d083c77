/* miniprogram.js: runs the One Stroke mini program's JS in node the way the WeChat runtime
 * would: modules evaluated in one context with App/Page/getApp/wx as globals and a CommonJS
 * require (the npm package 'wxsession-client' resolves to client/, as after "build npm"),
 * pages instantiated with data and setData. Plus a fake wx whose wx.request plays the
 * wxsessiond routes (session, paints) in memory. */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { REPO } = require('./server.js');

const MP_DIR = path.join(REPO, 'examples', 'one-stroke', 'miniprogram');
const NPM_PACKAGES = { 'wxsession-client': path.join(REPO, 'client', 'index.js') };

/* Sets a setData key ('a', 'a.b', 'list[2].x') in data. */
function setPath(data, key, value) {
    const parts = key.replace(/\[(\d+)\]/g, '.$1').split('.');
    let obj = data;
    for (let i = 0; i < parts.length - 1; i++) {
        if (obj[parts[i]] === undefined || obj[parts[i]] === null)
            obj[parts[i]] = /^\d+$/.test(parts[i + 1]) ? [] : {};
        obj = obj[parts[i]];
    }
    obj[parts[parts.length - 1]] = value;
}

/**
 * Loads the mini program with wx. options.config: settings laid over config.js's (e.g.
 * {showPhoneButton: true}). Returns {app, pages: {route: definition}, loadPage(route)},
 * loadPage giving a fresh page instance (methods, data, setData, route).
 */
function loadMiniprogram(wx, options) {
    const configFile = path.join(MP_DIR, 'config.js');
    const configOverrides = (options && options.config) || {};
    const pages = {};
    let appInstance = null;
    let current = null;
    const sandbox = {
        console, setTimeout, clearTimeout, setInterval, clearInterval, wx,
        App: (def) => {
            appInstance = def;
        },
        Page: (def) => {
            pages[current] = def;
        },
        getApp: () => appInstance,
    };
    const context = vm.createContext(sandbox);
    const cache = new Map();

    function resolve(spec, from) {
        if (NPM_PACKAGES[spec])
            return NPM_PACKAGES[spec];
        if (!spec.startsWith('.') && !spec.startsWith('/'))
            throw new Error(`cannot require '${spec}' from ${from}: not a relative path`);
        const base = spec.startsWith('/') ? path.join(MP_DIR, spec) :
            path.resolve(path.dirname(from), spec);
        return base.endsWith('.js') ? base : base + '.js';
    }

    function load(file) {
        if (cache.has(file))
            return cache.get(file).exports;
        const module = { exports: {} };
        cache.set(file, module);
        const source = fs.readFileSync(file, 'utf8');
        const wrapper = vm.runInContext(
            `(function (require, module, exports) {${source}\n})`, context, { filename: file });
        wrapper.call(module.exports, (spec) => load(resolve(spec, file)), module,
            module.exports);
        if (file === configFile)
            Object.assign(module.exports, configOverrides);
        return module.exports;
    }

    load(path.join(MP_DIR, 'app.js'));
    const appJson = JSON.parse(fs.readFileSync(path.join(MP_DIR, 'app.json'), 'utf8'));
    for (const route of appJson.pages) {
        current = route;
        load(path.join(MP_DIR, route + '.js'));
    }

    function loadPage(route) {
        const def = pages[route];
        if (!def)
            throw new Error(`Page() was not called by ${route}.js`);
        const page = { route, data: JSON.parse(JSON.stringify(def.data || {})), setDataCalls: 0 };
        for (const [k, v] of Object.entries(def)) {
            if (typeof v === 'function')
                page[k] = v;
        }
        page.setData = (patch, cb) => {
            page.setDataCalls++;
            for (const [k, v] of Object.entries(patch))
                setPath(page.data, k, JSON.parse(JSON.stringify(v === undefined ? null : v)));
            if (typeof cb === 'function')
                setTimeout(cb, 0);
        };
        wx.currentPage = page;
        return page;
    }

    return { app: appInstance, pages, appJson, loadPage };
}

/* A 2D context that records the calls made on it. */
function recordingContext() {
    const calls = [];
    const ctx = { calls };
    for (const m of ['fillRect', 'clearRect', 'beginPath', 'moveTo', 'lineTo', 'stroke', 'arc',
        'fill', 'scale', 'save', 'restore'])
        ctx[m] = (...args) => calls.push([m, ...args]);
    return ctx;
}

function fakeCanvas(width, height) {
    const canvas = { width, height, ctx: null };
    canvas.getContext = (kind) => {
        if (kind !== '2d')
            throw new Error('only 2d here');
        canvas.ctx = canvas.ctx || recordingContext();
        return canvas.ctx;
    };
    return canvas;
}

/* The fake /phone's default: phone info for a code starting with 'phone-ok', else WeChat's
 * refusal of the code. */
function defaultPhoneAnswer(code) {
    if (String(code).startsWith('phone-ok')) {
        return { statusCode: 200, header: {}, data: { phoneNumber: '+8613800138000',
            purePhoneNumber: '13800138000', countryCode: '86',
            watermark: { timestamp: 1700000000, appid: 'wx-mini' } } };
    }
    return { statusCode: 400, header: {}, data: { error: { code: 'ERR_PHONE_CODE_INVALID',
        message: 'invalid code' } } };
}

/**
 * A fake wx for the mini program: login/getUserInfo give codes and signed-looking rawData;
 * request answers {base}/login (a token per code), {base}/session, {base}/phone (options.phone
 * (code) gives the answer; default: defaultPhoneAnswer) and the paints routes from memory,
 * checking the Bearer token or the X-WX-* headers as wxsessiond does; the UI APIs (toast,
 * modal, selector queries) are recorded.
 */
function fakeWx(options) {
    const o = options || {};
    const base = o.base || 'http://127.0.0.1:5757/applet';
    const storage = new Map();
    const sessions = new Map(); /* code -> user */
    const tokens = new Map(); /* token -> user */
    const paints = o.paints || []; /* [{id, actions, createdAt}] of the one user, any order */
    const log = { logins: 0, tokenLogins: 0, requests: [], toasts: [], modals: [],
        canvases: [] };
    let codes = 0;
    const user = { nickName: '微信用户', openId: 'o-mini-user' };
    const later = (fn, arg) => setTimeout(() => fn && fn(arg), 0);
    const ok = (data) => ({ statusCode: 200, data, header: {} });
    const fail = (reason) => ok({ code: -1, msg: 'fail', error: { reason } });

    function sessionOf(header) {
        const h = {};
        for (const [k, v] of Object.entries(header || {}))
            h[k.toLowerCase()] = v;
        const bearer = /^Bearer (.+)$/.exec(h.authorization || '');
        if (bearer)
            return tokens.get(bearer[1]) || 'token-invalid';
        if (!h['x-wx-code'])
            return null;
        if (h['x-wx-rawdata'] && h['x-wx-signature'])
            sessions.set(h['x-wx-code'], user);
        return sessions.get(h['x-wx-code']) || 'expired';
    }

    function route(params) {
        const url = new URL(params.url);
        if (url.pathname === new URL(base).pathname + '/login') {
            log.tokenLogins++;
            const token = 'tok-' + log.tokenLogins;
            tokens.set(token, { openId: user.openId });
            return ok({ token, expiresIn: 604800, openId: user.openId, unionId: null,
                userInfo: null });
        }
        const who = sessionOf(params.header);
        if (who === 'token-invalid') {
            return { statusCode: 401, header: {},
                data: { error: { code: 'ERR_TOKEN_INVALID', message: 'no such token' } } };
        }
        if (who === 'expired') {
            return ok({ 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A': 1, reason: 'ERR_SESSION_EXPIRED',
                error: { name: 'Error', message: 'expired' } });
        }
        const p = url.pathname.slice(new URL(base).pathname.length);
        if (p === '/session')
            return ok({ wxUserInfo: who });
        if (p === '/phone') {
            const body = typeof params.data === 'string' ? JSON.parse(params.data) : params.data;
            return who ? (o.phone || defaultPhoneAnswer)(body.code) : { statusCode: 401,
                header: {}, data: { error: { code: 'ERR_TOKEN_INVALID', message: 'no token' } } };
        }
        if (!who)
            return fail('ERR_NO_SESSION');
        if (p === '/session/paints/list') {
            const limit = Number(url.searchParams.get('limit') || 20);
            const sorted = paints.slice().sort((a, b) => b.createdAt - a.createdAt);
            const start = Number(url.searchParams.get('cursor') || 0);
            const page = sorted.slice(start, start + limit);
            const next = start + limit < sorted.length ? String(start + limit) : null;
            return ok({ code: 0, msg: 'success', data: page, next });
        }
        const body = typeof params.data === 'string' ? JSON.parse(params.data) : params.data;
        if (p === '/session/paints/save') {
            paints.push({ id: body.id, actions: body.actions, createdAt: Date.now() });
            return ok({ code: 0, msg: 'success', data: {} });
        }
        if (p === '/session/paints/delete') {
            const i = paints.findIndex((x) => x.id === body.id);
            if (i === -1)
                return fail('ERR_NOT_FOUND');
            paints.splice(i, 1);
            return ok({ code: 0, msg: 'success', data: {} });
        }
        return { statusCode: 404, data: { error: { code: 'ERR_NOT_FOUND' } }, header: {} };
    }

    function query() {
        const wanted = [];
        const q = {
            in: () => q,
            select: (sel) => {
                wanted.push({ sel, all: false });
                return q;
            },
            selectAll: (sel) => {
                wanted.push({ sel, all: true });
                return q;
            },
            fields: () => q,
            boundingClientRect: () => q,
            exec: (cb) => later(cb, wanted.map(({ sel, all }) => {
                const node = () => {
                    const board = sel === '#board';
                    const c = fakeCanvas(board ? 351 : 170, board ? 234 : 113);
                    log.canvases.push({ sel, canvas: c });
                    return { node: c, width: c.width, height: c.height };
                };
                if (!all)
                    return node();
                const n = wx.currentPage && wx.currentPage.data.paints ?
                    wx.currentPage.data.paints.length : 0;
                return Array.from({ length: n }, node);
            })),
        };
        return q;
    }

    const wx = {
        currentPage: null,
        login(p) {
            log.logins++;
            later(p.success, { code: `mp-code-${++codes}`, errMsg: 'login:ok' });
        },
        getUserInfo(p) {
            later(p.success, { rawData: JSON.stringify({ nickName: user.nickName }),
                signature: 'a'.repeat(40), userInfo: { nickName: user.nickName } });
        },
        request(p) {
            log.requests.push({ url: p.url, method: p.method || 'GET',
                header: Object.assign({}, p.header), data: p.data });
            const res = route(p);
            later(p.success, Object.assign({ errMsg: 'request:ok' }, res));
            later(p.complete, res);
            return { abort() {} };
        },
        getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
        setStorageSync: (k, v) => storage.set(k, v),
        removeStorageSync: (k) => storage.delete(k),
        getWindowInfo: () => ({ pixelRatio: 2, windowWidth: 375, windowHeight: 667 }),
        getSystemInfoSync: () => ({ pixelRatio: 2, windowWidth: 375, windowHeight: 667 }),
        showToast: (p) => log.toasts.push(p.title),
        showModal: (p) => {
            log.modals.push(p.title);
            later(p.success, { confirm: o.confirm !== false, cancel: o.confirm === false });
        },
        stopPullDownRefresh: () => {},
        createSelectorQuery: query,
    };
    return { wx, log, paints, storage, tokens };
}

module.exports = { MP_DIR, loadMiniprogram, fakeWx, recordingContext };
