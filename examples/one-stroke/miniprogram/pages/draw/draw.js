/* draw.js: the drawing page: one stroke with a finger on a canvas (type="2d"), then save it
 * through the paints API; when config.showPhoneButton is on, a button that shows the user's
 * phone number (masked). */
const stroke = require('../../utils/stroke.js');
const api = require('../../utils/api.js');

/* What the page shows of a phone number: every digit but the last 4 hidden. */
function maskPhone(number) {
    const digits = String(number || '').replace(/\D/g, '');
    if (digits.length <= 4)
        return digits;
    return '*'.repeat(digits.length - 4) + digits.slice(-4);
}

/* The page's words for a failed getPhoneNumber (e.code: the client's error code). */
function phoneErrorText(e) {
    if (e && e.code === 'ERR_PHONE_CODE_INVALID')
        return '授权已失效，请再点一次';
    if (e && e.code === 'ERR_WECHAT_QUOTA')
        return '获取手机号太频繁，请稍后再试';
    return '获取手机号失败 ' + ((e && e.code) || '');
}

function pixelRatio() {
    const info = typeof wx.getWindowInfo === 'function' ? wx.getWindowInfo()
        : wx.getSystemInfoSync();
    return (info && info.pixelRatio) || 1;
}

Page({
    data: {
        nickName: '',
        canSave: false,
        saving: false,
        showPhoneButton: false,
        phone: '', /* masked */
        phoneError: '',
        phoneLoading: false,
    },

    onLoad() {
        const config = getApp().globalData.config;
        this.setData({ showPhoneButton: Boolean(config && config.showPhoneButton) });
        this.ctx = null;
        this.boardWidth = 0;
        this.boardHeight = 0;
        this.current = null;
    },

    onReady() {
        wx.createSelectorQuery()
            .select('#board')
            .fields({ node: true, size: true })
            .exec((res) => this.attachCanvas(res && res[0]));
    },

    /* Logs in (the first request does) and greets the user. */
    onShow() {
        return api
            .whoAmI()
            .then((user) => this.setData({ nickName: user && user.nickName ? user.nickName : '' }))
            .catch((e) => wx.showToast({ title: '登录失败 ' + (e.code || ''), icon: 'none' }));
    },

    /* bindgetphonenumber: e.detail.code is the one-time code (none when the user declined);
     * the server turns it into the number, which the page shows masked. */
    onGetPhoneNumber(e) {
        const code = e && e.detail ? e.detail.code : undefined;
        if (!code) {
            this.setData({ phone: '', phoneError: '未授权手机号' });
            return Promise.resolve();
        }
        this.setData({ phoneLoading: true, phoneError: '' });
        return api
            .getPhoneNumber(code)
            .then((info) => this.setData({ phoneLoading: false,
                phone: maskPhone(info.purePhoneNumber || info.phoneNumber) }))
            .catch((err) => this.setData({ phoneLoading: false, phone: '',
                phoneError: phoneErrorText(err) }));
    },

    /* The canvas node and its CSS size: back it with device pixels, draw in CSS pixels. */
    attachCanvas(info) {
        if (!info || !info.node)
            return;
        const dpr = pixelRatio();
        const canvas = info.node;
        canvas.width = info.width * dpr;
        canvas.height = info.height * dpr;
        this.ctx = canvas.getContext('2d');
        this.ctx.scale(dpr, dpr);
        this.boardWidth = info.width;
        this.boardHeight = info.height;
        this.clear();
    },

    redraw() {
        if (this.ctx)
            stroke.draw(this.ctx, this.current, this.boardWidth, this.boardHeight);
    },

    touchStart(e) {
        const t = e.touches[0];
        this.current = stroke.createStroke({ width: this.boardWidth, height: this.boardHeight });
        stroke.addPoint(this.current, t.x, t.y);
        this.redraw();
    },

    touchMove(e) {
        const t = e.touches[0];
        if (this.current && stroke.addPoint(this.current, t.x, t.y))
            this.redraw();
    },

    touchEnd() {
        this.setData({ canSave: Boolean(this.current) && this.current.points.length >= 2 });
    },

    clear() {
        this.current = stroke.createStroke({ width: this.boardWidth, height: this.boardHeight });
        this.setData({ canSave: false });
        this.redraw();
    },

    save() {
        if (!this.data.canSave || this.data.saving)
            return Promise.resolve();
        this.setData({ saving: true });
        return api
            .savePaint(stroke.newId(), stroke.serialize(this.current))
            .then(() => {
                this.setData({ saving: false });
                this.clear();
                wx.showToast({ title: '已保存', icon: 'success' });
            })
            .catch((e) => {
                this.setData({ saving: false });
                wx.showToast({ title: '保存失败 ' + (e.code || ''), icon: 'none' });
            });
    },
});
