/* protocol.js: the weapp-session protocol as the client sees it: header names, the error
 * body's magic key and reasons, and pure helpers that build headers and read answers. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.protocol = factory();
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
    'use strict';

    const HEADER_CODE = 'X-WX-Code';
    const HEADER_RAW_DATA = 'X-WX-RawData';
    const HEADER_SIGNATURE = 'X-WX-Signature';
    const MAGIC_KEY = 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';

    const reasons = Object.freeze({
        SESSION_EXPIRED: 'ERR_SESSION_EXPIRED',
        SESSION_KEY_EXCHANGE_FAILED: 'ERR_SESSION_KEY_EXCHANGE_FAILED',
        UNTRUSTED_RAW_DATA: 'ERR_UNTRUSTED_RAW_DATA',
    });

    /* The session headers of one request. A session the server has not confirmed yet carries
     * the whole login (code, percent-encoded rawData, signature); a confirmed one the code. */
    function sessionHeaders(session) {
        const h = { [HEADER_CODE]: session.code };
        if (!session.confirmed) {
            h[HEADER_RAW_DATA] = encodeURIComponent(session.rawData);
            h[HEADER_SIGNATURE] = session.signature;
        }
        return h;
    }

    /* A new object: the caller's headers (left untouched) plus ours. A caller header whose name
     * matches one of ours in any letter case is left out, so each name goes once. */
    function mergeHeaders(callerHeader, ours) {
        const out = {};
        const taken = new Set(Object.keys(ours).map((k) => k.toLowerCase()));
        if (callerHeader && typeof callerHeader === 'object') {
            for (const k of Object.keys(callerHeader)) {
                if (!taken.has(k.toLowerCase()))
                    out[k] = callerHeader[k];
            }
        }
        return Object.assign(out, ours);
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

    /* The protocol error in a response body, or null. Returns {reason, error}: reason is ''
     * for a body that has none (the server could not read rawData: SyntaxError, URIError). */
    function protocolError(data) {
        const body = bodyValue(data);
        if (!body || typeof body !== 'object' || !body[MAGIC_KEY])
            return null;
        return {
            reason: typeof body.reason === 'string' ? body.reason : '',
            error: body.error && typeof body.error === 'object' ? body.error : {},
        };
    }

    return {
        HEADER_CODE,
        HEADER_RAW_DATA,
        HEADER_SIGNATURE,
        MAGIC_KEY,
        reasons,
        sessionHeaders,
        mergeHeaders,
        protocolError,
    };
});
