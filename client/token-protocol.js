/* token-protocol.js: the token API as the client sees it: its routes, the error codes that
 * end a token, and pure helpers that build the login body and headers and read answers. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(root);
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.tokenProtocol = factory(root);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
    'use strict';

    const PATH_LOGIN = '/login';
    const PATH_LOGOUT = '/logout';
    const PATH_PHONE = '/phone';

    const tokenCodes = Object.freeze({
        TOKEN_INVALID: 'ERR_TOKEN_INVALID',
        TOKEN_EXPIRED: 'ERR_TOKEN_EXPIRED',
        SESSION_KEY_STALE: 'ERR_SESSION_KEY_STALE',
        WECHAT: 'ERR_WECHAT',
        TOO_MANY_LOGINS: 'ERR_TOO_MANY_LOGINS',
        UNTRUSTED_RAW_DATA: 'ERR_UNTRUSTED_RAW_DATA',
        WATERMARK: 'ERR_WATERMARK',
        BAD_REQUEST: 'ERR_BAD_REQUEST',
        STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE',
        PHONE_CODE_INVALID: 'ERR_PHONE_CODE_INVALID',
        WECHAT_QUOTA: 'ERR_WECHAT_QUOTA',
        DECRYPT_FAILED: 'ERR_DECRYPT_FAILED',
    });

    /* The 401 codes after which the token is of no more use: log in again, retry once. */
    const RELOGIN_CODES = [tokenCodes.TOKEN_INVALID, tokenCodes.TOKEN_EXPIRED,
        tokenCodes.SESSION_KEY_STALE];

    /* The fields of a user-profile answer (wx.getUserProfile, wx.getUserInfo) that /login
     * takes beside the code. */
    const PROFILE_FIELDS = ['rawData', 'signature', 'encryptedData', 'iv'];

    /* The body of POST /login: the code plus the string fields of profile among
     * PROFILE_FIELDS (profile may be null). */
    function loginBody(code, profile) {
        const body = { code };
        if (profile && typeof profile === 'object') {
            for (const k of PROFILE_FIELDS) {
                if (typeof profile[k] === 'string' && profile[k] !== '')
                    body[k] = profile[k];
            }
        }
        return body;
    }

    function bearerHeader(token) {
        return { Authorization: 'Bearer ' + token };
    }

    /* baseUrl + path, with one slash between them. */
    function joinUrl(baseUrl, path) {
        return baseUrl.replace(/\/+$/, '') + path;
    }

    /* The origin of an absolute http(s) URL, else null (a relative URL). */
    function originOf(url) {
        const m = /^(https?:\/\/[^/?#]+)/i.exec(url);
        return m ? m[1].toLowerCase() : null;
    }

    /* True when url is on baseUrl's origin: a relative url is; an absolute one must have the
     * same scheme, host and port (a relative baseUrl is on the page's origin, when known). */
    function sameOrigin(url, baseUrl) {
        const target = originOf(url);
        if (!target)
            return true;
        let base = originOf(baseUrl);
        if (!base && root && root.location && typeof root.location.origin === 'string')
            base = root.location.origin.toLowerCase();
        return base === null || base === target;
    }

    /* A response body as a value: wx.request hands parsed JSON, wx.uploadFile hands text. */
    function bodyValue(data) {
        if (typeof data !== 'string')
            return data;
        try {
            return JSON.parse(data);
        } catch (e) {
            return null;
        }
    }

    function headerValue(header, name) {
        if (!header || typeof header !== 'object')
            return undefined;
        const k = Object.keys(header).find((h) => h.toLowerCase() === name);
        return k === undefined ? undefined : header[k];
    }

    /* The API error of an answer, or null for a 2xx or a body without {"error":{"code"}}.
     * Returns {status, code, message, errcode?, errmsg?, relogin, retryAfter?}: relogin is
     * true only when the server said so (ERR_WECHAT for a code WeChat wants replaced). */
    function apiError(res) {
        if (!res || (res.statusCode >= 200 && res.statusCode < 300))
            return null;
        const body = bodyValue(res.data);
        const err = body && typeof body === 'object' ? body.error : null;
        if (!err || typeof err !== 'object' || typeof err.code !== 'string')
            return null;
        const out = { status: res.statusCode, code: err.code,
            message: typeof err.message === 'string' ? err.message : err.code,
            relogin: err.relogin === true };
        if (err.errcode !== undefined)
            out.errcode = err.errcode;
        if (typeof err.errmsg === 'string')
            out.errmsg = err.errmsg;
        const retryAfter = Number(headerValue(res.header, 'retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter >= 0)
            out.retryAfter = retryAfter;
        return out;
    }

    /* True when the answer says the token (or its session_key) is of no more use. */
    function endsToken(error) {
        return Boolean(error && error.status === 401 && RELOGIN_CODES.includes(error.code));
    }

    return {
        PATH_LOGIN,
        PATH_LOGOUT,
        PATH_PHONE,
        PROFILE_FIELDS,
        tokenCodes,
        loginBody,
        bearerHeader,
        joinUrl,
        sameOrigin,
        bodyValue,
        apiError,
        endsToken,
    };
});
