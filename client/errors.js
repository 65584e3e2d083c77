/* errors.js: the one error type the client hands to `fail` and rejects with. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.errors = factory();
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
    'use strict';

    /* Codes of errors made on the client side; server reasons and codes
     * (ERR_SESSION_EXPIRED, ERR_TOKEN_INVALID, ERR_WECHAT...) are used as they come. */
    const codes = Object.freeze({
        INVALID_OPTIONS: 'ERR_INVALID_OPTIONS',
        WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED',
        WX_GET_USER_INFO_FAILED: 'ERR_WX_GET_USER_INFO_FAILED',
        REQUEST_FAILED: 'ERR_REQUEST_FAILED',
        MALFORMED_RAW_DATA: 'ERR_MALFORMED_RAW_DATA',
        LOGIN_FAILED: 'ERR_LOGIN_FAILED',
        UNEXPECTED_RESPONSE: 'ERR_UNEXPECTED_RESPONSE',
    });

    /* An Error named WxSessionError with `code` and `errMsg` (wx's failure field), plus the
     * given extra fields (`detail`: the server's error object, `response`: its answer). */
    function sessionError(code, message, extra) {
        const e = new Error(message);
        e.name = 'WxSessionError';
        e.code = code;
        e.errMsg = message;
        return Object.assign(e, extra || {});
    }

    /* wx's failure value ({errMsg}), an Error or anything else as a message. */
    function failMessage(what, value) {
        if (value && typeof value.errMsg === 'string')
            return value.errMsg;
        if (value && typeof value.message === 'string')
            return what + ':fail ' + value.message;
        return what + ':fail';
    }

    return { codes, sessionError, failMessage };
});
