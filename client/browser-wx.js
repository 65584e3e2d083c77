/* browser-wx.js: a `wx` object for web pages and node, so the client runs outside WeChat:
 * wx.login, wx.getUserInfo and wx.getUserProfile are played by wxsessiond's simulator
 * (--dev) for a chosen test user, wx.request and wx.uploadFile go through fetch, storage is
 * localStorage or a Map. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory(root);
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.createBrowserWx = factory(root).createBrowserWx;
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
    'use strict';

    const DEFAULT_TIMEOUT_MS = 60000;

    /* Storage on a Map, for runtimes without localStorage. */
    function memoryStorage() {
        const m = new Map();
        return {
            getItem: (k) => (m.has(k) ? m.get(k) : null),
            setItem: (k, v) => m.set(k, String(v)),
            removeItem: (k) => m.delete(k),
        };
    }

    /* wx-style completion: success or fail, then complete, each with one value. */
    function finish(params, ok, value) {
        const fn = ok ? params.success : params.fail;
        if (typeof fn === 'function')
            fn(value);
        if (typeof params.complete === 'function')
            params.complete(value);
    }

    /* Runs a promise-returning job as a wx API call: value to success, Error to fail as
     * {errMsg: '<api>:fail <message>'}. */
    function asWxCall(api, params, job) {
        const p = params || {};
        job()
            .then(
                (value) => finish(p, true, Object.assign({ errMsg: api + ':ok' }, value)),
                (e) => finish(p, false,
                    { errMsg: api + ':fail ' + (e && e.message ? e.message : e) })
            )
            .catch((e) => console.error('wx.' + api + ': a callback threw:', e));
    }

    function queryString(data) {
        return Object.keys(data)
            .filter((k) => data[k] !== undefined)
            .map((k) => {
                const v = data[k];
                const text = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
                return encodeURIComponent(k) + '=' + encodeURIComponent(text);
            })
            .join('&');
    }

    function headerValue(header, name) {
        const k = Object.keys(header).find((h) => h.toLowerCase() === name);
        return k === undefined ? undefined : header[k];
    }

    /* url and fetch init for wx.request's options, as WeChat encodes data: GET puts an object
     * in the query string; other methods send JSON (the default content-type) or, with
     * application/x-www-form-urlencoded, a form. */
    function buildRequest(params) {
        const method = String(params.method || 'GET').toUpperCase();
        const header = Object.assign({}, params.header || {});
        let url = String(params.url);
        let body;
        const data = params.data;
        if (method === 'GET' || method === 'HEAD') {
            const q = data && typeof data === 'object' ? queryString(data)
                : data !== undefined && data !== null ? String(data) : '';
            if (q)
                url += (url.includes('?') ? '&' : '?') + q;
        } else if (data !== undefined && data !== null) {
            if (headerValue(header, 'content-type') === undefined)
                header['content-type'] = 'application/json';
            const form = /x-www-form-urlencoded/i.test(headerValue(header, 'content-type'));
            if (typeof data === 'string' || data instanceof ArrayBuffer)
                body = data;
            else
                body = form ? queryString(data) : JSON.stringify(data);
        }
        return { url, init: { method, headers: header, body } };
    }

    function responseHeaders(response) {
        const out = {};
        response.headers.forEach((v, k) => {
            out[k] = v;
        });
        return out;
    }

    /* fetch with the wx timeout (ms) and an abort handle; resolves to the Response. */
    function fetchWithTimeout(fetchFn, url, init, timeoutMs, task) {
        const ctl = typeof AbortController === 'function' ? new AbortController() : null;
        let timer = null;
        let why = 'aborted';
        if (ctl) {
            task.abort = () => ctl.abort();
            timer = setTimeout(() => {
                why = 'timeout';
                ctl.abort();
            }, timeoutMs);
        }
        return fetchFn(url, Object.assign({}, init, ctl ? { signal: ctl.signal } : {})).then(
            (r) => {
                clearTimeout(timer);
                return r;
            },
            (e) => {
                clearTimeout(timer);
                throw ctl && ctl.signal.aborted ? new Error(why) : e;
            }
        );
    }

    /**
     * A wx object. options (all optional):
     *   origin   where wxsessiond --dev runs (default: the page's origin)
     *   user     the simulator's test user name (default 'test'); see setUser
     *   nickName the nickName the simulator signs into rawData (default: the simulator's
     *            anonymous profile, nickName '微信用户')
     *   storage  a localStorage-like object (default: localStorage, else in memory)
     *   fetch    the fetch function (default: the global fetch)
     * Extras beyond wx: setUser(name[, nickName]), getUser(), getNickName().
     */
    function createBrowserWx(options) {
        const o = options || {};
        const origin = o.origin || (root.location ? root.location.origin : '');
        const storage = o.storage || root.localStorage || memoryStorage();
        const fetchFn = o.fetch || root.fetch.bind(root);
        let user = o.user || 'test';
        let nickName = o.nickName || null;
        let lastLogin = null;

        async function simulatorLogin() {
            let url = origin + '/__wxsim/login?user=' + encodeURIComponent(user);
            if (nickName)
                url += '&nickName=' + encodeURIComponent(nickName);
            const r = await fetchFn(url);
            if (!r.ok)
                throw new Error('simulator answered HTTP ' + r.status);
            lastLogin = await r.json();
            return { code: lastLogin.code };
        }

        async function userInfo() {
            if (!lastLogin)
                throw new Error('call wx.login first');
            const { rawData, signature, userInfo: info } = lastLogin;
            return { rawData, signature, userInfo: info };
        }

        /* wx.getUserProfile: getUserInfo's answer plus the simulator's encryptedData and iv
         * (the user info with a watermark, encrypted with the session_key) when it gave them. */
        async function userProfile() {
            const out = await userInfo();
            if (typeof lastLogin.encryptedData === 'string' && typeof lastLogin.iv === 'string') {
                out.encryptedData = lastLogin.encryptedData;
                out.iv = lastLogin.iv;
            }
            return out;
        }

        async function doRequest(params, task) {
            const { url, init } = buildRequest(params);
            const r = await fetchWithTimeout(fetchFn, url, init,
                params.timeout || DEFAULT_TIMEOUT_MS, task);
            let data;
            if (params.responseType === 'arraybuffer') {
                data = await r.arrayBuffer();
            } else {
                data = await r.text();
                if (params.dataType === undefined || params.dataType === 'json') {
                    try {
                        data = JSON.parse(data);
                    } catch (e) {
                        /* wx leaves a non-JSON body as text */
                    }
                }
            }
            return { data, statusCode: r.status, header: responseHeaders(r) };
        }

        /* wx.uploadFile: filePath is a URL the page can fetch (blob:, data:, http:). */
        async function doUpload(params, task) {
            const file = await (await fetchFn(params.filePath)).blob();
            const form = new FormData();
            const extra = params.formData || {};
            Object.keys(extra).forEach((k) => form.append(k, extra[k]));
            form.append(params.name || 'file', file);
            const r = await fetchWithTimeout(fetchFn, params.url,
                { method: 'POST', headers: params.header || {}, body: form },
                params.timeout || DEFAULT_TIMEOUT_MS, task);
            return { data: await r.text(), statusCode: r.status };
        }

        function readStorage(key) {
            const text = storage.getItem(key);
            if (text === null || text === undefined)
                return '';
            try {
                return JSON.parse(text);
            } catch (e) {
                return '';
            }
        }

        return {
            login: (p) => asWxCall('login', p, simulatorLogin),
            getUserInfo: (p) => asWxCall('getUserInfo', p, userInfo),
            getUserProfile: (p) => asWxCall('getUserProfile', p, userProfile),
            request(p) {
                const task = { abort() {} };
                asWxCall('request', p, () => doRequest(p || {}, task));
                return task;
            },
            uploadFile(p) {
                const task = { abort() {} };
                asWxCall('uploadFile', p, () => doUpload(p || {}, task));
                return task;
            },
            getStorageSync: (key) => readStorage(key),
            setStorageSync: (key, value) => storage.setItem(key, JSON.stringify(value)),
            removeStorageSync: (key) => storage.removeItem(key),
            /* From the next wx.login on: test user name, signed with nickName (omitted or
             * empty: the simulator's anonymous profile). */
            setUser(name, nick) {
                user = String(name);
                nickName = nick ? String(nick) : null;
                lastLogin = null;
            },
            getUser: () => user,
            getNickName: () => nickName,
        };
    }

    return { createBrowserWx, memoryStorage, buildRequest };
});
