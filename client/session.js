/* session.js: the legacy mode's session: the weapp-session login (wx.login, then
 * wx.getUserInfo) shared by every request that needs it, and the code kept in wx storage. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./errors.js'), require('./wxcall.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.session = factory(ns.errors, ns.wxcall);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (errors, wxcall) {
    'use strict';

    const DEFAULT_STORAGE_KEY = 'wxsession:code';
    const { callWx, storageGet, storageSet, storageRemove } = wxcall;

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
