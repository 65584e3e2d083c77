/* scripted-wx.js: a `wx` for node tests that records what the client does with it: the
 * browser adapter (client/browser-wx.js: simulator login, fetch, storage) wrapped so that
 * every login, getUserInfo and request is logged, with hooks to change their answers. */
'use strict';

const path = require('node:path');
const { REPO } = require('./server.js');
const { createBrowserWx, memoryStorage } = require(path.join(REPO, 'client', 'browser-wx.js'));

/**
 * options:
 *   origin   wxsessiond's origin (the simulator plays wx.login / wx.getUserInfo)
 *   user     the test user name
 *   storage  shared storage (to play an app restart), default a fresh memory storage
 *   login(params, real)        replaces wx.login; real(params) is the adapter's
 *   getUserInfo(params, real)  replaces wx.getUserInfo
 * Returns {wx, log, storage}; log.calls is the order of wx calls ('login', 'getUserInfo',
 * 'getUserProfile', 'request', 'uploadFile'), log.requests each request's
 * {url, method, header, data}.
 */
function scriptedWx(options) {
    const o = options || {};
    const storage = o.storage || memoryStorage();
    const inner = createBrowserWx({ origin: o.origin || 'http://127.0.0.1:1', user: o.user,
        storage });
    const log = { calls: [], requests: [] };
    const count = (name) => log.calls.filter((c) => c === name).length;

    function recordRequest(kind, params) {
        log.calls.push(kind);
        log.requests.push({ kind, url: params.url, method: params.method || 'GET',
            header: Object.assign({}, params.header), data: params.data });
    }

    const wx = {
        login(params) {
            log.calls.push('login');
            return o.login ? o.login(params, inner.login) : inner.login(params);
        },
        getUserInfo(params) {
            log.calls.push('getUserInfo');
            return o.getUserInfo ? o.getUserInfo(params, inner.getUserInfo)
                : inner.getUserInfo(params);
        },
        getUserProfile(params) {
            log.calls.push('getUserProfile');
            return inner.getUserProfile(params);
        },
        request(params) {
            recordRequest('request', params);
            return o.request ? o.request(params, inner.request) : inner.request(params);
        },
        uploadFile(params) {
            recordRequest('uploadFile', params);
            return inner.uploadFile(params);
        },
        getStorageSync: inner.getStorageSync,
        setStorageSync: inner.setStorageSync,
        removeStorageSync: inner.removeStorageSync,
        setUser: inner.setUser,
        getUser: inner.getUser,
    };
    return { wx, log, storage, count };
}

/* Case-insensitive header lookup in a recorded request. */
function header(req, name) {
    const k = Object.keys(req.header).find((h) => h.toLowerCase() === name.toLowerCase());
    return k === undefined ? undefined : req.header[k];
}

/* Counts complete/success/fail calls of one request and exposes them. */
function callbackSpy() {
    const spy = { success: 0, fail: 0, complete: 0, lastError: null, lastResult: null };
    spy.options = {
        success: (res) => {
            spy.success++;
            spy.lastResult = res;
        },
        fail: (err) => {
            spy.fail++;
            spy.lastError = err;
        },
        complete: () => {
            spy.complete++;
        },
    };
    return spy;
}

/* Tracks unhandled rejections while a test runs; stop() returns the list. */
function watchUnhandled() {
    const seen = [];
    const onRejection = (reason) => seen.push(reason);
    process.on('unhandledRejection', onRejection);
    return {
        stop() {
            process.off('unhandledRejection', onRejection);
            return seen;
        },
    };
}

/* Waits for pending timers and I/O callbacks to run (e.g. callbacks after a promise). */
function settleTicks() {
    return new Promise((resolve) => setTimeout(resolve, 20));
}

module.exports = { scriptedWx, header, callbackSpy, watchUnhandled, settleTicks };
