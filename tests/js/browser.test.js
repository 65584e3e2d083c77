/* browser.test.js: the One Stroke web page served by the real wxsessiond --dev, in Debian's
 * headless chromium through playwright-core, once in token mode (the default: POST login,
 * Authorization: Bearer) and once through the legacy protocol (the sign-in form's switch,
 * X-WX-Code): sign in (the typed name shows as the nickName), draw with the mouse, save, reload
 * (the thumbnail is there, with no new login), a second user does not see it, README's example
 * drawings are drawn and another format says so, the page fits phone screens with its status
 * line in view, delete asks once and removes it, sign-out ends a token on the server.
 * Leaves screenshots at tests/artifacts/one-stroke-<mode>*.png. */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, startServer } = require('./helpers/server.js');

const CHROMIUM = process.env.WXS_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'tests', 'artifacts');
/* where the page keeps its session, per mode */
const STORAGE_KEYS = { token: 'one-stroke:token', legacy: 'one-stroke:code' };
const DESKTOP = { width: 1000, height: 900 };
const PHONES = [{ width: 375, height: 667 }, { width: 320, height: 568 }];

function loadPlaywright() {
    try {
        return require('playwright-core');
    } catch (e) {
        return null;
    }
}

const playwright = loadPlaywright();
let skip = false;
if (!fs.existsSync(CHROMIUM))
    skip = `${CHROMIUM} is missing (apt-get install chromium): browser test not run`;
else if (!playwright)
    skip = 'playwright-core is not installed (npm install): browser test not run';
if (skip)
    console.log('SKIP: ' + skip);

for (const mode of ['token', 'legacy'])
    describeMode(mode);

function describeMode(mode) {
describe(`One Stroke web page in chromium (${mode} mode)`, { skip, timeout: 180000 }, () => {
    const SHOT = path.join(ARTIFACTS, `one-stroke-${mode}.png`);
    const sessionHeaders = [];
    let server;
    let context;
    let page;
    let profile;
    const problems = [];
    const simLogins = [];
    const deletes = [];

    before(async () => {
        server = await startServer();
        profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wxs-chromium-'));
        context = await playwright.chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            viewport: DESKTOP,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'],
        });
        page = context.pages()[0] || await context.newPage();
        page.setDefaultTimeout(15000);
        page.on('pageerror', (e) => problems.push('page error: ' + e.message));
        page.on('console', (m) => {
            if (m.type() === 'error')
                problems.push('console error: ' + m.text());
        });
        page.on('response', (r) => {
            if (r.status() >= 400)
                problems.push(`HTTP ${r.status()} for ${r.url()}`);
        });
        page.on('request', (r) => {
            if (r.url().includes('/__wxsim/login'))
                simLogins.push(r.url());
            if (r.url().includes('/paints/delete'))
                deletes.push(r.url());
            if (/\/applet\/session(\/|$|\?)/.test(r.url()))
                sessionHeaders.push(r.headers());
        });
    });

    after(async () => {
        if (context)
            await context.close();
        if (profile)
            fs.rmSync(profile, { recursive: true, force: true });
        if (server)
            assert.equal(await server.stop(), 0, 'wxsessiond stops cleanly on SIGTERM');
    });

    /* Signs in as test user `user`, whose name shows as the nickName, in this mode. */
    async function signIn(user) {
        await page.fill('#user', user);
        await page.setChecked('#legacy', mode === 'legacy');
        await page.click('#signin-btn');
        await page.waitForSelector('body[data-state="ready"]');
        assert.equal(await page.isVisible('#who'), true);
        assert.equal(await page.textContent('#nick'), user, 'the typed name is the nickName');
        assert.equal(await page.getAttribute('body', 'data-protocol'), mode);
    }

    async function signOut() {
        await page.click('#signout');
        await page.waitForSelector('#signin:not([hidden])');
    }

    /* One stroke with the mouse: press, a wavy path of small moves, release. */
    async function drawStroke(seed) {
        const box = await page.locator('#board').boundingBox();
        const at = (t) => [box.x + box.width * (0.1 + 0.8 * t),
            box.y + box.height * (0.5 + 0.3 * Math.sin(t * Math.PI * 2 + seed))];
        await page.mouse.move(...at(0));
        await page.mouse.down();
        for (let i = 1; i <= 40; i++)
            await page.mouse.move(...at(i / 40), { steps: 2 });
        await page.mouse.up();
    }

    /* Where selector's box is against the viewport: {inside, box, viewport}. */
    const placement = (selector) => page.evaluate((sel) => {
        const el = document.querySelector(sel);
        const r = el.getBoundingClientRect();
        const vw = document.documentElement.clientWidth;
        const vh = window.innerHeight;
        return {
            inside: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 &&
                r.right <= vw + 0.5 && r.bottom <= vh + 0.5,
            box: [r.left, r.top, r.right, r.bottom].map(Math.round),
            viewport: [vw, vh],
        };
    }, selector);

    async function assertInViewport(selector, why) {
        const p = await placement(selector);
        assert.ok(p.inside,
            `${why}: ${selector} at ${p.box} is outside the ${p.viewport} viewport`);
    }

    /* The page's stored token or session code. */
    const storedSession = () => page.evaluate((key) => JSON.parse(localStorage.getItem(key)),
        STORAGE_KEYS[mode]);

    /* Saves a drawing through the page's stored session, as curl would with the token
     * (Authorization: Bearer) or the code (X-WX-Code). */
    const saveRaw = (contentType, body) => page.evaluate(async ([key, legacy, type, text]) => {
        const stored = JSON.parse(localStorage.getItem(key));
        const auth = legacy ? { 'X-WX-Code': stored } : { Authorization: 'Bearer ' + stored };
        const r = await fetch('session/paints/save', { method: 'POST',
            headers: Object.assign({ 'Content-Type': type }, auth), body: text });
        return r.json();
    }, [STORAGE_KEYS[mode], mode === 'legacy', contentType, body]);

    /* How many dark pixels the thumbnail of drawing id shows. */
    const inkOf = (id) => page.evaluate((want) => {
        const c = document.querySelector(`#paints li.thumb[data-id="${want}"] canvas`);
        if (!c)
            return -1;
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0;
        for (let i = 0; i < px.length; i += 4)
            dark += px[i] < 128 ? 1 : 0;
        return dark;
    }, id);

    const thumbs = () => page.locator('#paints li.thumb');
    const waitThumbs = (n) => page.waitForFunction(
        (want) => document.querySelectorAll('#paints li.thumb').length === want, n);

    it('serves the page and the client from {routeBasePath}/', async () => {
        const res = await page.goto(server.base + '/');
        assert.equal(res.status(), 200);
        assert.match(res.headers()['content-type'], /^text\/html/);
        assert.equal(await page.title(), 'One Stroke · 一笔到底');
        assert.equal(await page.isVisible('#signin'), true);
        assert.equal(await page.evaluate(() => typeof window.wxsession.createClient),
            'function');
    });

    let savedId;

    it('signs in as a test user, draws a stroke with the mouse and saves it', async () => {
        await signIn('alice');
        assert.match(simLogins[simLogins.length - 1], /[?&]nickName=alice(&|$)/,
            'the simulator signs the typed name into rawData');
        assert.match(await page.textContent('#openid'), /^o\w+/);
        assert.equal(await page.isVisible('#empty'), true, 'no drawings yet');
        assert.equal(await page.isDisabled('#save'), true);
        await drawStroke(0);
        assert.equal(await page.isDisabled('#save'), false);
        await page.click('#save');
        await waitThumbs(1);
        savedId = await thumbs().first().getAttribute('data-id');
        assert.match(savedId, /^[A-Za-z0-9_-]{1,64}$/);
        assert.equal(await page.textContent('#status'), 'Saved.');
        await assertInViewport('#status', 'after Save');
    });

    it(`signs its requests the ${mode} way`, () => {
        assert.ok(sessionHeaders.length >= 3, 'session and paints requests were seen');
        for (const h of sessionHeaders) {
            if (mode === 'token') {
                assert.match(h.authorization || '', /^Bearer [A-Za-z0-9_-]{43}$/);
                assert.equal(h['x-wx-code'], undefined);
            } else {
                assert.ok(h['x-wx-code'], 'X-WX-Code sent');
                assert.equal(h.authorization, undefined);
            }
        }
    });

    it('after a reload the session and the thumbnail are still there, without a new login',
        async () => {
            const loginsBefore = simLogins.length;
            await page.reload();
            await page.waitForSelector('body[data-state="ready"]');
            await waitThumbs(1);
            assert.equal(simLogins.length, loginsBefore, 'the stored code is reused');
            assert.equal(await thumbs().first().getAttribute('data-id'), savedId);
            const inked = await inkOf(savedId);
            assert.ok(inked > 100, `the thumbnail shows the stroke (${inked} dark pixels)`);
            await drawStroke(1.5); /* unsaved, for the screenshot */
            fs.mkdirSync(ARTIFACTS, { recursive: true });
            await page.screenshot({ path: SHOT, fullPage: true });
        });

    it('a second test user does not see the drawing', async () => {
        const before = await storedSession();
        await signOut();
        assert.equal(await storedSession(), null, 'the page forgot its session');
        if (mode === 'token') {
            const r = await fetch(server.base + '/me',
                { headers: { Authorization: 'Bearer ' + before } });
            assert.equal(r.status, 401, 'sign-out ended the token on the server');
        }
        await signIn('bob');
        await page.waitForSelector('#empty:not([hidden])');
        assert.equal(await thumbs().count(), 0);
    });

    it('draws the README example drawings and says when it cannot draw one', async () => {
        const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
        const json = /-d '(\{"id":"first".*\})'/.exec(readme);
        const form = /--data-urlencode id=second[^\n]*\n[^\n]*--data-urlencode 'actions=(.*)'/
            .exec(readme);
        assert.ok(json && form, 'README has the two save examples');
        assert.equal((await saveRaw('application/json', json[1])).code, 0);
        assert.equal((await saveRaw('application/x-www-form-urlencoded',
            'id=second&actions=' + encodeURIComponent(form[1]))).code, 0);
        /* A format the page does not draw: kept and listed, shown as such. */
        assert.equal((await saveRaw('application/json',
            '{"id":"other","actions":[{"t":"m","x":10,"y":10},{"t":"l","x":90,"y":40}]}')).code, 0);
        await page.reload();
        await page.waitForSelector('body[data-state="ready"]');
        await waitThumbs(3);
        for (const id of ['first', 'second'])
            assert.ok(await inkOf(id) > 100, `README's "${id}" is drawn`);
        const other = page.locator('#paints li.thumb[data-id="other"]');
        assert.equal(await other.locator('canvas').count(), 0, 'no blank thumbnail');
        assert.equal(await other.locator('.unreadable').textContent(), 'Cannot draw this');
        assert.equal(await other.locator('.unreadable').isVisible(), true);
    });

    it('fits phone screens: nothing overflows, the header stays in view', async () => {
        try {
            for (const size of PHONES) {
                await page.setViewportSize(size);
                const where = `${size.width}x${size.height}`;
                const widths = await page.evaluate(() => [document.documentElement.scrollWidth,
                    document.documentElement.clientWidth]);
                assert.ok(widths[0] <= widths[1], `${where}: scrollWidth ${widths[0]} > ` +
                    `clientWidth ${widths[1]}`);
                await page.evaluate(() => window.scrollTo(0, 0));
                for (const sel of ['.top h1', '#avatar', '#nick', '#openid', '#signout'])
                    await assertInViewport(sel, where);
                const titleLines = await page.evaluate(() => {
                    const h1 = document.querySelector('.top h1');
                    return h1.getBoundingClientRect().height /
                        parseFloat(getComputedStyle(h1).fontSize);
                });
                assert.ok(titleLines < 1.9, `${where}: the title wraps`);
                await page.screenshot({ path: SHOT.replace(/\.png$/, `-${where}.png`),
                    fullPage: true });
            }
        } finally {
            await page.setViewportSize(DESKTOP);
        }
    });

    it('on a phone, status messages show in view wherever the page is scrolled', async () => {
        try {
            await page.setViewportSize(PHONES[0]);
            await page.locator('#board').scrollIntoViewIfNeeded();
            await drawStroke(0.7);
            await page.click('#save');
            await waitThumbs(4);
            await page.waitForFunction(() =>
                document.querySelector('#status').textContent === 'Saved.');
            await assertInViewport('#status', 'after Save on a phone');
            const first = thumbs().first();
            await first.evaluate((li) => li.scrollIntoView({ block: 'start' }));
            await first.locator('button.delete').click();
            await first.locator('button.delete-yes').click();
            await waitThumbs(3);
            assert.equal(await page.textContent('#status'), 'Deleted.');
            await assertInViewport('#status', 'after Delete on a phone');
        } finally {
            await page.setViewportSize(DESKTOP);
        }
    });

    it('delete asks once, then removes the drawing, also after a reload', async () => {
        await signOut();
        await signIn('alice');
        await waitThumbs(1);
        const thumb = thumbs().first();
        const deletesBefore = deletes.length;
        await thumb.locator('button.delete').click();
        assert.equal(await thumb.locator('button.delete-yes').isVisible(), true, 'it asks');
        assert.equal(await thumb.locator('button.delete').isVisible(), false);
        await thumb.locator('button.delete-no').click();
        assert.equal(await thumb.locator('button.delete-yes').isVisible(), false);
        assert.equal(await thumbs().count(), 1, 'Keep keeps it');
        assert.equal(deletes.length, deletesBefore, 'asking sends nothing');
        await thumb.locator('button.delete').click();
        await thumb.locator('button.delete-yes').click();
        await waitThumbs(0);
        assert.equal(deletes.length, deletesBefore + 1, 'one delete request');
        assert.equal(await page.textContent('#status'), 'Deleted.');
        await page.reload();
        await page.waitForSelector('#empty:not([hidden])');
        assert.equal(await thumbs().count(), 0);
        assert.deepEqual(problems, [], 'no page errors or console errors');
    });
});
}
