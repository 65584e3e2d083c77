/* session.js: the client's one session: the weapp-session login (wx.login, then
 * wx.getUserInfo) shared by every request that needs it, and the code kept in wx storage. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./errors.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.session = factory(ns.errors);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (errors) {
    'use strict';

    const DEFAULT_STORAGE_KEY = 'wxsession:code';

    /* Calls a callback-style wx API as a promise; a missing API or a synchronous throw is a
     * rejection with errMsg, like its fail callback. */
    function callWx(wx, name, params) {
        return new Promise((resolve, reject) => {
            if (!wx || typeof wx[name] !== 'function') {
                reject({ errMsg: name + ':fail wx.' + name + ' is not available' });
                return;
            }
            try {
                wx[name](Object.assign({}, params, { success: resolve, fail: reject }));
            } catch (e) {
                reject(e);
            }
        });
    }

    /* wx.login, then wx.getUserInfo, in that order: a later wx.login may rotate session_key,
     * so the signature must come after the code it is checked against. Resolves to an
     * unconfirmed session {code, rawData, signature, confirmed: false}. */
    async function login(wx) {
        const { codes, sessionError, failMessage } = errors;
        let loginRes;
        try {
            loginRes = await callWx(wx, 'login', {});
        } catch (e) {
            throw sessionError(codes.WX_LOGIN_FAILED, failMessage('login', e), { cause: e });
        }
        if (!loginRes || typeof loginRes.code !== 'string' || loginRes.code === '')
            throw sessionError(codes.WX_LOGIN_FAILED, 'login:fail no code in the answer');
        let info;
        try {
            info = await callWx(wx, 'getUserInfo', { withCredentials: true });
        } catch (e) {
            throw sessionError(codes.WX_GET_USER_INFO_FAILED, failMessage('getUserInfo', e),
                { cause: e });
        }
        if (!info || typeof info.rawData !== 'string' || typeof info.signature !== 'string') {
            throw sessionError(codes.WX_GET_USER_INFO_FAILED,
                'getUserInfo:fail no rawData or signature in the answer');
        }
        return {
            code: loginRes.code,
            rawData: info.rawData,
            signature: info.signature,
            userInfo: info.userInfo || null,
            confirmed: false,
        };
    }

    /* Storage errors (quota, a storage-less runtime) only cost the session's persistence. */
    function storageGet(wx, key) {
        try {
            const v = wx && typeof wx.getStorageSync === 'function' ? wx.getStorageSync(key) : '';
            return typeof v === 'string' ? v : '';
        } catch (e) {
            return '';
        }
    }

    function storageSet(wx, key, value) {
        try {
            if (wx && typeof wx.setStorageSync === 'function')
                wx.setStorageSync(key, value);
        } catch (e) {
            /* not kept across restarts; still works in memory */
        }
    }

    function storageRemove(wx, key) {
        try {
            if (wx && typeof wx.removeStorageSync === 'function')
                wx.removeStorageSync(key);
        } catch (e) {
            /* as above */
        }
    }

    /* A session holder. getWx() returns the wx object to use (looked up on each call).
     * - current(): a promise of the session to send: the one in memory, else the code kept in
     *   storage (confirmed), else a new login; concurrent callers share one login.
     * - confirm(s): the server accepted s: later requests send its code only; kept in storage.
     * - invalidate(s): the server rejected s: forget it (if still current) so that the next
     *   current() logs in again. A newer session is left alone.
     * - clear(): forget everything, storage included; a login under way is not adopted. */
    function createSession(getWx, options) {
        const key = (options && options.storageKey) || DEFAULT_STORAGE_KEY;
        let session = null;
        let pending = null;
        let generation = 0;
        let loaded = false;

        function fromStorage() {
            loaded = true;
            const code = storageGet(getWx(), key);
            return code ? { code, rawData: '', signature: '', userInfo: null, confirmed: true }
                : null;
        }

        function current() {
            if (!session && !loaded)
                session = fromStorage();
            if (session)
                return Promise.resolve(session);
            if (pending)
                return pending;
            const mine = generation;
            pending = login(getWx()).then(
                (s) => {
                    if (mine === generation) {
                        pending = null;
                        session = s;
                    }
                    return s;
                },
                (e) => {
                    if (mine === generation)
                        pending = null;
                    throw e;
                }
            );
            return pending;
        }

        function confirm(s) {
            if (s.confirmed)
                return;
            s.confirmed = true;
            if (s === session)
                storageSet(getWx(), key, s.code);
        }

        function invalidate(s) {
            if (s !== session)
                return;
            session = null;
            if (storageGet(getWx(), key) === s.code)
                storageRemove(getWx(), key);
        }

        function clear() {
            generation++;
            session = null;
            pending = null;
            loaded = true;
            storageRemove(getWx(), key);
        }

        function peek() {
            if (!session && !loaded)
                session = fromStorage();
            return session;
        }

        return { current, confirm, invalidate, clear, peek };
    }

    return { createSession, login, DEFAULT_STORAGE_KEY };
});
