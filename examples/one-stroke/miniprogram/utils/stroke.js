/* stroke.js: One Stroke's drawing as data: one stroke of points on a board, serialized to the
 * `actions` JSON text that the paints API stores, and drawn back onto any 2D canvas context.
 * The same file serves the web page (<script>, global `oneStroke`) and the mini program
 * (CommonJS here; wxsessiond also serves this file as the web page's stroke.js).
 * The format (README.md, One Stroke), what serialize writes and parse accepts:
 *   {"v":1,"width":W,"height":H,"color":"#rgb".."#rrggbbaa","lineWidth":N,"points":[[x,y],...]}
 * W, H, N in (0, 10000]; at most MAX_POINTS finite [x, y] pairs in board coordinates. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports)
        module.exports = factory();
    else
        root.oneStroke = factory();
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
    'use strict';

    const VERSION = 1;
    const MAX_POINTS = 4000;     /* ~60 KB of JSON at most, far below the server's limit */
    const MIN_STEP = 1.5;        /* points closer than this to the last one add nothing */
    const MAX_BOARD = 10000;
    const DEFAULTS = { width: 600, height: 400, color: '#1f2937', lineWidth: 6 };

    function round1(v) {
        return Math.round(v * 10) / 10;
    }

    /* A new empty stroke; options {width, height, color, lineWidth} describe the board. */
    function createStroke(options) {
        const o = Object.assign({}, DEFAULTS, options || {});
        return { v: VERSION, width: o.width, height: o.height, color: o.color,
            lineWidth: o.lineWidth, points: [] };
    }

    /* Adds (x, y), clamped to the board. Returns false when the point was dropped: too close
     * to the previous one, or the stroke already holds MAX_POINTS. */
    function addPoint(stroke, x, y) {
        const p = stroke.points;
        if (p.length >= MAX_POINTS || !Number.isFinite(x) || !Number.isFinite(y))
            return false;
        const cx = round1(Math.min(Math.max(x, 0), stroke.width));
        const cy = round1(Math.min(Math.max(y, 0), stroke.height));
        if (p.length > 0) {
            const last = p[p.length - 1];
            if (Math.hypot(cx - last[0], cy - last[1]) < MIN_STEP)
                return false;
        }
        p.push([cx, cy]);
        return true;
    }

    function serialize(stroke) {
        return JSON.stringify(stroke);
    }

    function validColor(c) {
        return typeof c === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(c);
    }

    function validSize(n) {
        return Number.isFinite(n) && n > 0 && n <= MAX_BOARD;
    }

    /* The stroke in an `actions` text, or null when it is not one of ours (another client's
     * drawing, a newer version, garbage). */
    function parse(text) {
        let s;
        try {
            s = typeof text === 'string' ? JSON.parse(text) : null;
        } catch (e) {
            return null;
        }
        if (!s || s.v !== VERSION || !validSize(s.width) || !validSize(s.height) ||
            !validColor(s.color) || !validSize(s.lineWidth) || !Array.isArray(s.points) ||
            s.points.length > MAX_POINTS) {
            return null;
        }
        const ok = s.points.every((p) => Array.isArray(p) && p.length === 2 &&
            Number.isFinite(p[0]) && Number.isFinite(p[1]));
        return ok ? s : null;
    }

    /* Draws stroke on ctx (a CanvasRenderingContext2D or a mini program canvas 2d context)
     * scaled to fit a width x height area, centred, on a white background. */
    function draw(ctx, stroke, width, height) {
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, width, height);
        if (!stroke || stroke.points.length === 0)
            return;
        const scale = Math.min(width / stroke.width, height / stroke.height);
        const dx = (width - stroke.width * scale) / 2;
        const dy = (height - stroke.height * scale) / 2;
        const pts = stroke.points;
        ctx.strokeStyle = stroke.color;
        ctx.fillStyle = stroke.color;
        ctx.lineWidth = Math.max(1, stroke.lineWidth * scale);
        ctx.lineCap = 'round';
        ctx.lineJoin = 'round';
        ctx.beginPath();
        if (pts.length === 1) {
            ctx.arc(dx + pts[0][0] * scale, dy + pts[0][1] * scale, ctx.lineWidth / 2, 0,
                2 * Math.PI);
            ctx.fill();
            return;
        }
        ctx.moveTo(dx + pts[0][0] * scale, dy + pts[0][1] * scale);
        for (let i = 1; i < pts.length; i++)
            ctx.lineTo(dx + pts[i][0] * scale, dy + pts[i][1] * scale);
        ctx.stroke();
    }

    /* A fresh paint id: time then randomness, of [a-z0-9-], well inside the server's
     * [A-Za-z0-9_-]{1,64}. */
    function newId() {
        const rand = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, '0');
        return Date.now().toString(36) + '-' + rand;
    }

    return { VERSION, MAX_POINTS, createStroke, addPoint, serialize, parse, draw, newId };
});
