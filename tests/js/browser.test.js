/* browser.test.js: the One Stroke web page served by the real wxsessiond --dev, in Debian's
 * headless chromium through playwright-core: sign in, draw with the mouse, save, reload (the
 * thumbnail is there, with no new login), a second user does not see it, delete removes it.
 * Leaves a screenshot at tests/artifacts/one-stroke.png. */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, startServer } = require('./helpers/server.js');

const CHROMIUM = process.env.WXS_CHROMIUM || '/usr/bin/chromium';
const SHOT = path.join(REPO, 'tests', 'artifacts', 'one-stroke.png');

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

describe('One Stroke web page in chromium', { skip, timeout: 180000 }, () => {
    let server;
    let context;
    let page;
    let profile;
    const problems = [];
    const simLogins = [];

    before(async () => {
        server = await startServer();
        profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wxs-chromium-'));
        context = await playwright.chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            viewport: { width: 1000, height: 900 },
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

    async function signIn(user) {
        await page.fill('#user', user);
        await page.click('#signin-btn');
        await page.waitForSelector('body[data-state="ready"]');
        assert.equal(await page.isVisible('#who'), true);
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
        assert.equal(await page.textContent('#nick'), '微信用户');
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
    });

    it('after a reload the session and the thumbnail are still there, without a new login',
        async () => {
            const loginsBefore = simLogins.length;
            await page.reload();
            await page.waitForSelector('body[data-state="ready"]');
            await waitThumbs(1);
            assert.equal(simLogins.length, loginsBefore, 'the stored code is reused');
            assert.equal(await thumbs().first().getAttribute('data-id'), savedId);
            const inked = await page.evaluate(() => {
                const c = document.querySelector('#paints li.thumb canvas');
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let dark = 0;
                for (let i = 0; i < px.length; i += 4)
                    dark += px[i] < 128 ? 1 : 0;
                return dark;
            });
            assert.ok(inked > 100, `the thumbnail shows the stroke (${inked} dark pixels)`);
            await drawStroke(1.5); /* unsaved, for the screenshot */
            fs.mkdirSync(path.dirname(SHOT), { recursive: true });
            await page.screenshot({ path: SHOT, fullPage: true });
        });

    it('a second test user does not see the drawing', async () => {
        await signOut();
        await signIn('bob');
        await page.waitForSelector('#empty:not([hidden])');
        assert.equal(await thumbs().count(), 0);
    });

    it('delete removes the drawing, also after a reload', async () => {
        await signOut();
        await signIn('alice');
        await waitThumbs(1);
        await thumbs().first().locator('button.delete').click();
        await waitThumbs(0);
        assert.equal(await page.textContent('#status'), 'Deleted.');
        await page.reload();
        await page.waitForSelector('#empty:not([hidden])');
        assert.equal(await thumbs().count(), 0);
        assert.deepEqual(problems, [], 'no page errors or console errors');
    });
});
