/* token-client.js: the token mode: request() and uploadFile() with "Authorization: Bearer"
 * from a login at {baseUrl}/login; one re-login and one retry when the server ends the token;
 * login(), logout() and getPhoneNumber(). */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./protocol.js'), require('./token-protocol.js'),
            require('./errors.js'), require('./callbacks.js'), require('./token-session.js'),
            require('./wxcall.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.tokenClient = factory(ns.protocol, ns.tokenProtocol, ns.errors, ns.callbacks,
            ns.tokenSession, ns.wxcall);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (protocol, tokenProtocol,
    errors, callbacks, tokenSessions, wxcall) {
    'use strict';

    const { codes, sessionError } = errors;

    /* The error for a server's error answer (err: tokenProtocol.apiError's reading of res):
     * its code, plus relogin and retryAfter when the server gave them. */
    function tokenError(err, res) {
        const extra = { reason: err.code, detail: err, response: res };
        if (err.relogin)
            extra.relogin = true;
        if (err.retryAfter !== undefined)
            extra.retryAfter = err.retryAfter;
        return sessionError(err.code, err.message, extra);
    }

    /* What login() resolves to: the login answer without the token (which stays inside). */
    function publicSession(s) {
        return { openId: s.openId, unionId: s.unionId, userInfo: s.userInfo,
            expiresIn: s.expiresIn };
    }

    /**
     * A token-mode client. getWx() returns the wx object (looked up on each call); cfg is
     * createClient's config: baseUrl (required: the server's {routeBasePath}, absolute or
     * relative to the page), storageKey ('wxsession:token'), profile (a hook giving
     * rawData/signature/encryptedData/iv for each login), onCallbackError.
     * Throws ERR_INVALID_OPTIONS without a baseUrl.
     */
    function createTokenClient(getWx, cfg) {
        if (typeof cfg.baseUrl !== 'string' || cfg.baseUrl === '') {
            throw sessionError(codes.INVALID_OPTIONS,
                'createClient: token mode needs baseUrl (the server\'s {routeBasePath})');
        }
        const baseUrl = cfg.baseUrl;
        const session = tokenSessions.createTokenSession(getWx, { baseUrl,
            storageKey: cfg.storageKey, profile: cfg.profile });

        /* One call with the token: when the server ends it (401 ERR_TOKEN_INVALID,
         * ERR_TOKEN_EXPIRED, ERR_SESSION_KEY_STALE), one new login and one retry; a second
         * such answer fails. Other answers, any status, are the caller's. */
        async function run(api, options) {
            wxcall.checkOptions(options, api);
            if (!tokenProtocol.sameOrigin(options.url, baseUrl)) {
                throw sessionError(codes.INVALID_OPTIONS, api + ':fail the token goes only ' +
                    'to the origin of baseUrl (' + baseUrl + ')');
            }
            let retried = false;
            for (;;) {
                const s = await session.current();
                const header = protocol.mergeHeaders(options.header,
                    tokenProtocol.bearerHeader(s.token));
                const res = await wxcall.send(getWx(), api, options, header);
                const err = tokenProtocol.apiError(res);
                if (!tokenProtocol.endsToken(err))
                    return res;
                session.invalidate(s);
                if (retried)
                    throw tokenError(err, res);
                retried = true;
            }
        }

        /* POST {baseUrl}/logout with the token held, which is forgotten first, whatever the
         * answer: resolves to the answer (2xx, or 401 for a token already ended) or to null
         * when no token was held; rejects on a transport failure or another error answer. */
        async function logout(options) {
            const all = Boolean(options && options.all);
            const s = session.peek();
            session.clear();
            if (!s)
                return null;
            const res = await wxcall.send(getWx(), 'request', {
                url: tokenProtocol.joinUrl(baseUrl, tokenProtocol.PATH_LOGOUT),
                method: 'POST', data: all ? { all: true } : {},
            }, Object.assign({ 'content-type': 'application/json' },
                tokenProtocol.bearerHeader(s.token)));
            const err = tokenProtocol.apiError(res);
            if (err && !tokenProtocol.endsToken(err))
                throw tokenError(err, res);
            return res;
        }

        /* POST {baseUrl}/phone {"code"} (code: e.detail.code of a <button
         * open-type="getPhoneNumber">): resolves to the phone_info WeChat gave the server
         * ({phoneNumber, purePhoneNumber, countryCode, watermark}). Goes through run(), so a
         * 401 that ends the token is answered by one re-login and one retry with the same
         * code: that is safe although WeChat's phone codes are single-use, because the server
         * checks the token before it calls WeChat, so a refused token never spent the code.
         * Any other error answer rejects at once with the server's code, never retried:
         * ERR_PHONE_CODE_INVALID (used, expired or another user's: ask the user to tap
         * again), ERR_WECHAT_QUOTA (WeChat's frequency limit or billed quota), ERR_WECHAT,
         * ERR_BAD_REQUEST, ERR_STORE_UNAVAILABLE; a 2xx without a phone number rejects with
         * ERR_UNEXPECTED_RESPONSE. A code that is not a non-empty string rejects with
         * ERR_INVALID_OPTIONS before anything is sent. */
        async function getPhoneNumber(code) {
            if (typeof code !== 'string' || code === '') {
                throw sessionError(codes.INVALID_OPTIONS, 'getPhoneNumber:fail the code is ' +
                    'required (e.detail.code of the getPhoneNumber button; none when the user ' +
                    'declined)');
            }
            const res = await run('request', {
                url: tokenProtocol.joinUrl(baseUrl, tokenProtocol.PATH_PHONE),
                method: 'POST', data: { code },
                header: { 'content-type': 'application/json' },
            });
            const err = tokenProtocol.apiError(res);
            if (err)
                throw tokenError(err, res);
            const body = tokenProtocol.bodyValue(res.data);
            if (res.statusCode < 200 || res.statusCode >= 300 || !body ||
                typeof body !== 'object' || typeof body.phoneNumber !== 'string') {
                throw sessionError(codes.UNEXPECTED_RESPONSE, 'getPhoneNumber:fail HTTP ' +
                    res.statusCode + ' without a phone number', { response: res });
            }
            return body;
        }

        const withCallbacks = (options, promise) =>
            callbacks.attach(options, promise, cfg.onCallbackError);

        return {
            mode: 'token',
            /** wx.request with the token; returns a promise of wx.request's success value. */
            request: (options) => withCallbacks(options, run('request', options)),
            /** wx.uploadFile with the token (res.data is the response text). */
            uploadFile: (options) => withCallbacks(options, run('uploadFile', options)),
            /** Log in now (options.profile: fields for /login); resolves to the answer. */
            login: (options) => withCallbacks(options,
                session.login(options ? options.profile : undefined).then(publicSession)),
            /** End the session on the server (options.all: every session of the user). */
            logout: (options) => withCallbacks(options, logout(options)),
            /** The user's phone number from a getPhoneNumber button's code (see above). */
            getPhoneNumber: (code, options) => withCallbacks(options, getPhoneNumber(code)),
            /** Forget the token (memory and storage) without telling the server. */
            clearSession: () => session.clear(),
            /** True when a token is held (it may still have expired on the server). */
            hasSession: () => Boolean(session.peek()),
        };
    }

    return { createTokenClient };
});
