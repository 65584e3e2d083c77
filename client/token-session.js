/* token-session.js: the token mode's session: wx.login, then POST {baseUrl}/login, shared by
 * every request that needs it, and the token kept in wx storage. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./token-protocol.js'), require('./errors.js'),
            require('./wxcall.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.tokenSession = factory(ns.tokenProtocol, ns.errors, ns.wxcall);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (tokenProtocol, errors,
    wxcall) {
    'use strict';

    const DEFAULT_STORAGE_KEY = 'wxsession:token';
    const { codes, sessionError, failMessage } = errors;
    const { tokenCodes } = tokenProtocol;

    /* wx.login; resolves to its code or rejects with ERR_WX_LOGIN_FAILED. */
    async function wxLogin(wx) {
        let res;
        try {
            res = await wxcall.callWx(wx, 'login', {});
        } catch (e) {
            throw sessionError(codes.WX_LOGIN_FAILED, failMessage('login', e), { cause: e });
        }
        if (!res || typeof res.code !== 'string' || res.code === '')
            throw sessionError(codes.WX_LOGIN_FAILED, 'login:fail no code in the answer');
        return res.code;
    }

    /* The user-profile fields for this login: the ones given to login(), else what the
     * config's profile hook resolves to (called after wx.login, so that data signed or
     * encrypted with session_key comes after the code it belongs to), else none. */
    async function profileFor(given, hook, wx) {
        if (given !== undefined)
            return given;
        if (typeof hook !== 'function')
            return null;
        try {
            return await hook(wx);
        } catch (e) {
            throw sessionError(codes.WX_GET_USER_INFO_FAILED, failMessage('profile', e),
                { cause: e });
        }
    }

    /* The error for a /login answer without a token. */
    function loginError(res) {
        const err = tokenProtocol.apiError(res);
        if (!err) {
            return sessionError(codes.LOGIN_FAILED, 'login answered HTTP ' +
                (res && res.statusCode) + ' without a token', { response: res });
        }
        return sessionError(err.code, err.message, { reason: err.code, detail: err,
            response: res, relogin: err.relogin, retryAfter: err.retryAfter });
    }

    /* One login: wx.login, POST {baseUrl}/login. When the server answers ERR_WECHAT with
     * relogin (WeChat refused the code: 40029, 40163), wx.login once more for a new code.
     * Resolves to a session {token, openId, unionId, userInfo, expiresIn}; rejects with a
     * WxSessionError whose code is the server's (ERR_WECHAT...) or a client one. */
    async function login(wx, loginUrl, profile, hook) {
        let reloggedIn = false;
        for (;;) {
            const code = await wxLogin(wx);
            const fields = await profileFor(profile, hook, wx);
            const res = await wxcall.send(wx, 'request', { url: loginUrl, method: 'POST',
                data: tokenProtocol.loginBody(code, fields) },
            { 'content-type': 'application/json' });
            const body = tokenProtocol.bodyValue(res && res.data);
            if (res && res.statusCode === 200 && body && typeof body.token === 'string' &&
                body.token !== '') {
                return { token: body.token, openId: body.openId || null,
                    unionId: body.unionId || null, userInfo: body.userInfo || null,
                    expiresIn: body.expiresIn };
            }
            const err = loginError(res);
            if (err.code !== tokenCodes.WECHAT || !err.relogin || reloggedIn)
                throw err;
            reloggedIn = true;
        }
    }

    /* A token holder. getWx() returns the wx object to use (looked up on each call); options:
     * baseUrl (required), storageKey, profile (the hook above).
     * - current(): a promise of the session to send: the one in memory, else the token kept
     *   in storage, else a new login; concurrent callers share one login.
     * - login(profile): a new login now (profile: fields for /login, or undefined for the
     *   hook); the session it makes replaces the current one. Concurrent current() callers
     *   share it.
     * - invalidate(s): the server refused s: forget it (if still current) so that the next
     *   current() logs in again. A newer session is left alone.
     * - clear(): forget everything, storage included; a login under way is not adopted.
     * - peek(): the session held, or null; no login. */
    function createTokenSession(getWx, options) {
        const key = options.storageKey || DEFAULT_STORAGE_KEY;
        const loginUrl = tokenProtocol.joinUrl(options.baseUrl, tokenProtocol.PATH_LOGIN);
        let session = null;
        let pending = null;
        let generation = 0;
        let loaded = false;

        function fromStorage() {
            loaded = true;
            const token = wxcall.storageGet(getWx(), key);
            return token ? { token, openId: null, unionId: null, userInfo: null } : null;
        }

        function start(profile) {
            const mine = ++generation;
            pending = login(getWx(), loginUrl, profile, options.profile).then(
                (s) => {
                    if (mine === generation) {
                        pending = null;
                        session = s;
                        wxcall.storageSet(getWx(), key, s.token);
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

        function peek() {
            if (!session && !loaded)
                session = fromStorage();
            return session;
        }

        function current() {
            if (peek())
                return Promise.resolve(session);
            return pending || start(undefined);
        }

        function invalidate(s) {
            if (s !== session)
                return;
            session = null;
            if (wxcall.storageGet(getWx(), key) === s.token)
                wxcall.storageRemove(getWx(), key);
        }

        function clear() {
            generation++;
            session = null;
            pending = null;
            loaded = true;
            wxcall.storageRemove(getWx(), key);
        }

        return { current, login: start, invalidate, clear, peek };
    }

    return { createTokenSession, login, DEFAULT_STORAGE_KEY };
});
