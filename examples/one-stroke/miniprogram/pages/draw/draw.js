/* draw.js: the drawing page: one stroke with a finger on a canvas (type="2d"), then save it
 * through the paints API. */
const stroke = require('../../utils/stroke.js');
const api = require('../../utils/api.js');

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
    },

    onLoad() {
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
