/* list.js: the user's drawings as thumbnails, newest first, paged; long press deletes one. */
const stroke = require('../../utils/stroke.js');
const api = require('../../utils/api.js');

const PAGE_SIZE = 20;

function formatTime(ms) {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' +
        two(d.getHours()) + ':' + two(d.getMinutes());
}

Page({
    data: {
        paints: [], /* [{id, time}]: what the page shows; the actions stay out of setData */
        loading: false,
        more: false,
    },

    onLoad() {
        this.actions = {};
        this.cursor = null;
    },

    onShow() {
        return this.load(true);
    },

    onPullDownRefresh() {
        return this.load(true).then(() => wx.stopPullDownRefresh());
    },

    onReachBottom() {
        return this.cursor ? this.load(false) : Promise.resolve();
    },

    /* The first page (fresh) or the next; thumbnails are drawn once the view has them. */
    load(fresh) {
        if (this.data.loading)
            return Promise.resolve();
        this.setData({ loading: true });
        return api
            .listPaints({ limit: PAGE_SIZE, cursor: fresh ? null : this.cursor })
            .then((body) => {
                if (fresh)
                    this.actions = {};
                const items = (body.data || []).map((p) => {
                    this.actions[p.id] = p.actions;
                    return { id: p.id, time: formatTime(p.createdAt || p.updatedAt || 0) };
                });
                this.cursor = body.next || null;
                const paints = fresh ? items : this.data.paints.concat(items);
                this.setData({ paints, loading: false, more: Boolean(this.cursor) },
                    () => this.drawThumbs());
            })
            .catch((e) => {
                this.setData({ loading: false });
                wx.showToast({ title: '加载失败 ' + (e.code || ''), icon: 'none' });
            });
    },

    drawThumbs() {
        wx.createSelectorQuery()
            .selectAll('.thumb-canvas')
            .fields({ node: true, size: true })
            .exec((res) => {
                const nodes = (res && res[0]) || [];
                nodes.forEach((info, i) => this.drawThumb(info, this.data.paints[i]));
            });
    },

    drawThumb(info, paint) {
        if (!info || !info.node || !paint)
            return;
        const canvas = info.node;
        canvas.width = info.width;
        canvas.height = info.height;
        stroke.draw(canvas.getContext('2d'), stroke.parse(this.actions[paint.id]), info.width,
            info.height);
    },

    onLongPress(e) {
        const id = e.currentTarget.dataset.id;
        wx.showModal({
            title: '删除这幅画？',
            content: '删除后无法恢复',
            confirmText: '删除',
            confirmColor: '#dc2626',
            success: (r) => {
                if (r.confirm)
                    this.remove(id);
            },
        });
    },

    remove(id) {
        return api
            .deletePaint(id)
            .then(() => {
                delete this.actions[id];
                this.setData({ paints: this.data.paints.filter((p) => p.id !== id) },
                    () => this.drawThumbs());
                wx.showToast({ title: '已删除', icon: 'success' });
            })
            .catch((e) => wx.showToast({ title: '删除失败 ' + (e.code || ''), icon: 'none' }));
    },
});
