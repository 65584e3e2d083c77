/* wxsession.js: the client's entry: createClient() in token mode (Authorization: Bearer
 * after POST {baseUrl}/login) or legacy mode (the weapp-session protocol, X-WX-Code), and the
 * default legacy client behind request()/uploadFile() for apps written for the original.
 * Works as CommonJS (mini program, node) and as a <script>. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(root, require('./protocol.js'), require('./token-protocol.js'),
            require('./errors.js'), require('./legacy-client.js'),
            require('./token-client.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        Object.assign(ns, factory(root, ns.protocol, ns.tokenProtocol, ns.errors,
            ns.legacyClient, ns.tokenClient));
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root, protocol,
    tokenProtocol, errors, legacyClient, tokenClient) {
    'use strict';

    const { codes, sessionError } = errors;

    /* The platform's wx: the mini program's global, else one set on the global object (the
     * browser adapter's window.wx). */
    function globalWx() {
        /* global wx */
        if (typeof wx !== 'undefined')
            return wx;
        return root && root.wx;
    }

    /* The mode of a config: the one named, else token when baseUrl is given (the token mode
     * cannot work without it), else legacy, so that callers written before token mode
     * (createClient({wx, maxRetries, storageKey})) keep the weapp-session protocol. */
    function modeOf(cfg) {
        if (cfg.mode === 'token' || cfg.mode === 'legacy')
            return cfg.mode;
        if (cfg.mode !== undefined && cfg.mode !== null) {
            throw sessionError(codes.INVALID_OPTIONS, 'createClient: mode is \'token\' or ' +
                '\'legacy\', not ' + JSON.stringify(cfg.mode));
        }
        return typeof cfg.baseUrl === 'string' && cfg.baseUrl !== '' ? 'token' : 'legacy';
    }

    /**
     * A client with its own session. config (all optional but baseUrl in token mode):
     *   mode        'token' or 'legacy' (default: 'token' when baseUrl is given, else 'legacy')
     *   baseUrl     token mode: the server's {routeBasePath}, e.g. 'https://x.com/applet'
     *   profile     token mode: called after each wx.login; returns (or resolves to)
     *               {rawData, signature, encryptedData, iv} (any of them) for /login, or null
     *   wx          the wx object (default: the global wx, looked up on each call)
     *   maxRetries  legacy mode: re-logins after an expired session (default 2)
     *   storageKey  the wx storage key of the token ('wxsession:token') or, in legacy mode, of
     *               the session code ('wxsession:code')
     *   onCallbackError  called with an exception thrown by a success/fail/complete callback
     *               (default: console.error)
     * Throws ERR_INVALID_OPTIONS for an unknown mode or token mode without baseUrl.
     */
    function createClient(config) {
        const cfg = config || {};
        const getWx = () => cfg.wx || globalWx();
        if (modeOf(cfg) === 'token')
            return tokenClient.createTokenClient(getWx, cfg);
        return legacyClient.createLegacyClient(getWx, cfg);
    }

    const defaultClient = createClient();

    return {
        createClient,
        request: defaultClient.request,
        uploadFile: defaultClient.uploadFile,
        clearSession: defaultClient.clearSession,
        hasSession: defaultClient.hasSession,
        reasons: protocol.reasons,
        tokenCodes: tokenProtocol.tokenCodes,
        codes,
        MAGIC_KEY: protocol.MAGIC_KEY,
    };
});
