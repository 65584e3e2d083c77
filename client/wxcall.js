/* wxcall.js: the wx APIs as promises: a callback-style call (wx.login...), wx.request and
 * wx.uploadFile with our header, and wx storage that never throws. Shared by both modes. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(require('./errors.js'));
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.wxcall = factory(ns.errors);
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (errors) {
    'use strict';

    const CALLBACK_KEYS = ['success', 'fail', 'complete'];
    const { codes, sessionError, failMessage } = errors;

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

    /* Runs wx[api] (request, uploadFile) with the caller's options minus their callbacks and
     * with `header` instead of theirs; resolves to the success value (any HTTP status),
     * rejects with ERR_REQUEST_FAILED. */
    function send(wx, api, options, header) {
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
                wx[api](params);
            } catch (e) {
                reject(sessionError(codes.REQUEST_FAILED, failMessage(api, e), { cause: e }));
            }
        });
    }

    /* Throws ERR_INVALID_OPTIONS unless options has a non-empty url. */
    function checkOptions(options, api) {
        if (!options || typeof options !== 'object' || typeof options.url !== 'string' ||
            options.url === '') {
            throw sessionError(codes.INVALID_OPTIONS, api + ':fail options.url is required');
        }
    }

    /* Storage errors (quota, a storage-less runtime) only cost the session's persistence:
     * a read that fails is '' and a write that fails keeps the value in memory only. */
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

    return { callWx, send, checkOptions, storageGet, storageSet, storageRemove };
});
