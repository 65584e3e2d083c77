/* legacy-client.js: the legacy mode: request() and uploadFile() behind the weapp-session
 * login (X-WX-Code): log in on first use, send the code after, log in again when the server
 * says the session is gone. The protocol of the original weapp-session, byte for byte. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./protocol.js'), require('./errors.js'),
            require('./callbacks.js'), require('./session.js'), require('./wxcall.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.legacyClient = factory(ns.protocol, ns.errors, ns.callbacks, ns.session, ns.wxcall);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (protocol, errors, callbacks,
    sessions, wxcall) {
    'use strict';

    const DEFAULT_MAX_RETRIES = 2;
    const { codes, sessionError } = errors;
    const { reasons } = protocol;

    /* The error for a protocol answer we give up on. */
    function serverError(perr, res) {
        const code = perr.reason || codes.MALFORMED_RAW_DATA;
        const message = (perr.error && perr.error.message) || code;
        return sessionError(code, message, { reason: perr.reason, detail: perr.error,
            response: res });
    }

    /**
     * A legacy-mode client. getWx() returns the wx object (looked up on each call); cfg is
     * createClient's config: maxRetries (default 2), storageKey ('wxsession:code'),
     * onCallbackError.
     */
    function createLegacyClient(getWx, cfg) {
        const maxRetries = Number.isInteger(cfg.maxRetries) && cfg.maxRetries >= 0
            ? cfg.maxRetries : DEFAULT_MAX_RETRIES;
        const session = sessions.createSession(getWx, { storageKey: cfg.storageKey });

        /* One call through the session: at most 1 + maxRetries logins for expiry and exchange
         * failures, and one full login again for untrusted rawData. */
        async function run(api, options) {
            wxcall.checkOptions(options, api);
            let retries = 0;
            let untrustedRedone = false;
            for (;;) {
                const s = await session.current();
                const header = protocol.mergeHeaders(options.header,
                    protocol.sessionHeaders(s));
                const res = await wxcall.send(getWx(), api, options, header);
                const perr = protocol.protocolError(res && res.data);
                if (!perr) {
                    if (res && res.statusCode >= 200 && res.statusCode < 300)
                        session.confirm(s);
                    return res;
                }
                session.invalidate(s);
                const expiry = perr.reason === reasons.SESSION_EXPIRED ||
                    perr.reason === reasons.SESSION_KEY_EXCHANGE_FAILED;
                if (expiry && retries < maxRetries) {
                    retries++;
                } else if (perr.reason === reasons.UNTRUSTED_RAW_DATA && !untrustedRedone) {
                    untrustedRedone = true;
                } else {
                    throw serverError(perr, res);
                }
            }
        }

        function call(api, options) {
            const p = run(api, options);
            return callbacks.attach(options, p, cfg.onCallbackError);
        }

        return {
            mode: 'legacy',
            /** wx.request through the session; returns a promise of wx.request's success value. */
            request: (options) => call('request', options),
            /** wx.uploadFile through the session (res.data is the response text). */
            uploadFile: (options) => call('uploadFile', options),
            /** Forget the session (memory and storage): the next request logs in anew. */
            clearSession: () => session.clear(),
            /** True when a session the server has accepted is held. */
            hasSession: () => {
                const s = session.peek();
                return Boolean(s && s.confirmed);
            },
        };
    }

    return { createLegacyClient, DEFAULT_MAX_RETRIES };
});
