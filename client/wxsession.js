/* wxsession.js: request() and uploadFile() with wx.request's options, behind the
 * weapp-session login: log in on first use, send the code after, log in again when the
 * server says the session is gone. Works as CommonJS (mini program, node) and as a <script>. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(root, require('./protocol.js'), require('./errors.js'),
            require('./callbacks.js'), require('./session.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        Object.assign(ns, factory(root, ns.protocol, ns.errors, ns.callbacks, ns.session));
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root, protocol, errors,
    callbacks, sessions) {
    'use strict';

    const DEFAULT_MAX_RETRIES = 2;
    const CALLBACK_KEYS = ['success', 'fail', 'complete'];
    const { codes, sessionError, failMessage } = errors;
    const { reasons } = protocol;

    /* The platform's wx: the mini program's global, else one set on the global object (the
     * browser adapter's window.wx). */
    function globalWx() {
        /* global wx */
        if (typeof wx !== 'undefined')
            return wx;
        return root && root.wx;
    }

    /* Runs wx[api] with the caller's options, our header and our callbacks; resolves to the
     * success value, rejects with ERR_REQUEST_FAILED. */
    function send(wxObject, api, options, header) {
        return new Promise((resolve, reject) => {
            const params = {};
            for (const k of Object.keys(options)) {
                if (!CALLBACK_KEYS.includes(k))
                    params[k] = options[k];
            }
            params.header = header;
            params.success = resolve;
            params.fail = (e) => reject(sessionError(codes.REQUEST_FAILED,
                failMessage(api, e), { cause: e }));
            try {
                wxObject[api](params);
            } catch (e) {
                reject(sessionError(codes.REQUEST_FAILED, failMessage(api, e), { cause: e }));
            }
        });
    }

    function checkOptions(options, api) {
        if (!options || typeof options !== 'object' || typeof options.url !== 'string' ||
            options.url === '') {
            throw sessionError(codes.INVALID_OPTIONS, api + ':fail options.url is required');
        }
    }

    /* The error for a protocol answer we give up on. */
    function serverError(perr, res) {
        const code = perr.reason || codes.MALFORMED_RAW_DATA;
        const message = (perr.error && perr.error.message) || code;
        return sessionError(code, message, { reason: perr.reason, detail: perr.error,
            response: res });
    }

    /**
     * A client with its own session. config (all optional):
     *   wx          the wx object (default: the global wx, looked up on each call)
     *   maxRetries  how many times an expired session or a failed code exchange is answered
     *               with a new login and a retry (default 2; 0 turns retries off)
     *   storageKey  the wx storage key of the session code (default 'wxsession:code')
     *   onCallbackError  called with an exception thrown by a success/fail/complete callback
     *               (default: console.error)
     */
    function createClient(config) {
        const cfg = config || {};
        const getWx = () => cfg.wx || globalWx();
        const maxRetries = Number.isInteger(cfg.maxRetries) && cfg.maxRetries >= 0
            ? cfg.maxRetries : DEFAULT_MAX_RETRIES;
        const session = sessions.createSession(getWx, { storageKey: cfg.storageKey });

        /* One call through the session: at most 1 + maxRetries logins for expiry and exchange
         * failures, and one full login again for untrusted rawData. */
        async function run(api, options) {
            checkOptions(options, api);
            let retries = 0;
            let untrustedRedone = false;
            for (;;) {
                const s = await session.current();
                const header = protocol.mergeHeaders(options.header,
                    protocol.sessionHeaders(s));
                const res = await send(getWx(), api, options, header);
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

    const defaultClient = createClient();

    return {
        createClient,
        request: defaultClient.request,
        uploadFile: defaultClient.uploadFile,
        clearSession: defaultClient.clearSession,
        hasSession: defaultClient.hasSession,
        reasons,
        codes,
        MAGIC_KEY: protocol.MAGIC_KEY,
    };
});
