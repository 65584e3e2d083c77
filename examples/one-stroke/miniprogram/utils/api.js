/* api.js: the One Stroke server calls, each through the wxsession client in token mode (it
 * logs in on first use: wx.login, POST {basePath}/login; then Authorization: Bearer). Paints
 * calls resolve to the envelope's body or reject with an Error whose `code` is the server's
 * reason. */
const wxsession = require('wxsession-client');
const config = require('../config.js');

const client = wxsession.createClient({ mode: 'token', baseUrl: config.host + config.basePath });

function url(path) {
    return config.host + config.basePath + path;
}

/* A paints API call: {code: 0, msg, data, next?} or a rejection. */
async function call(path, method, data) {
    const res = await client.request({ url: url(path), method, data });
    const body = res.data;
    if (res.statusCode !== 200 || !body || body.code !== 0) {
        const reason = body && body.error && body.error.reason ? body.error.reason
            : 'HTTP ' + res.statusCode;
        const e = new Error((body && body.error && body.error.message) || reason);
        e.code = reason;
        throw e;
    }
    return body;
}

/* The logged-in user's info ({openId, nickName?, ...}: a token login without a profile
 * stores the openId only); logs in if needed. */
async function whoAmI() {
    const res = await client.request({ url: url('/session') });
    return res.data && res.data.wxUserInfo ? res.data.wxUserInfo : null;
}

/* The user's phone number ({phoneNumber, purePhoneNumber, countryCode, watermark}) from the
 * code of a getPhoneNumber button; rejects with the client's error (code
 * ERR_PHONE_CODE_INVALID, ERR_WECHAT_QUOTA, ...). */
function getPhoneNumber(code) {
    return client.getPhoneNumber(code);
}

/* One page of the user's drawings, newest first: {data: [{id, actions, createdAt}], next}. */
function listPaints(options) {
    const o = options || {};
    let path = '/session/paints/list?limit=' + (o.limit || 20);
    if (o.cursor)
        path += '&cursor=' + encodeURIComponent(o.cursor);
    return call(path, 'GET');
}

function savePaint(id, actions) {
    return call('/session/paints/save', 'POST', { id, actions });
}

function deletePaint(id) {
    return call('/session/paints/delete', 'POST', { id });
}

module.exports = { whoAmI, getPhoneNumber, listPaints, savePaint, deletePaint };
