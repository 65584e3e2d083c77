/* app.js: the One Stroke web page: sign in as a simulator test user, draw one stroke, save
 * it, list the user's drawings as thumbnails, delete one (after a confirm step). All server
 * calls go through the wxsession client with the browser adapter standing in for wx: in token
 * mode (POST login, then Authorization: Bearer), or in legacy mode (X-WX-Code) when the
 * sign-in form's switch or ?protocol=legacy asks for it. */
(function () {
    'use strict';

    const { createClient, createBrowserWx } = window.wxsession;
    const stroke = window.oneStroke;
    const USER_KEY = 'one-stroke:user';
    const PROTOCOL_KEY = 'one-stroke:protocol';
    const STORAGE_KEYS = { token: 'one-stroke:token', legacy: 'one-stroke:code' };
    const PAGE_SIZE = 24;
    const THUMB_W = 300;
    const THUMB_H = 200;

    /* {routeBasePath}: the page is served at {base}/ or {base}/index.html. */
    const base = location.pathname.replace(/\/[^/]*$/, '');
    const wx = createBrowserWx({ origin: location.origin, user: 'test' });
    const $ = (id) => document.getElementById(id);

    /* The user profile for each token login: what wx.getUserProfile gives (the simulator's
     * rawData and signature, and encryptedData and iv when it has them). */
    function userProfile() {
        return new Promise((resolve, reject) => wx.getUserProfile({
            desc: 'to show your nickName', success: resolve, fail: reject }));
    }

    /* A client for protocol 'token' or 'legacy', each with its own storage key. */
    function makeClient(protocol) {
        if (protocol === 'legacy')
            return createClient({ wx, mode: 'legacy', storageKey: STORAGE_KEYS.legacy });
        return createClient({ wx, mode: 'token', baseUrl: base, storageKey: STORAGE_KEYS.token,
            profile: userProfile });
    }

    /* ?protocol=legacy|token wins over the switch's remembered state. */
    function initialProtocol() {
        const asked = new URLSearchParams(location.search).get('protocol');
        if (asked === 'legacy' || asked === 'token')
            return asked;
        return localStorage.getItem(PROTOCOL_KEY) === 'legacy' ? 'legacy' : 'token';
    }

    let protocol = initialProtocol();
    let client = makeClient(protocol);

    const board = $('board');
    const boardCtx = board.getContext('2d');
    let current = stroke.createStroke({ width: board.width, height: board.height });
    let drawing = false;
    let nextCursor = null;

    /* body[data-state]: signed-out, loading or ready (for people styling it, and for tests);
     * body[data-protocol]: token or legacy. */
    function setState(state) {
        document.body.dataset.state = state;
        document.body.dataset.protocol = protocol;
    }

    /* The status line is fixed at the bottom of the viewport, so a message shows wherever the
     * user scrolled to. */
    function setStatus(text, isError) {
        $('status').textContent = text;
        $('status').classList.toggle('error', Boolean(isError));
    }

    function describe(err) {
        if (err && err.code)
            return err.code + (err.message && err.message !== err.code ? ': ' + err.message : '');
        return String(err && err.message ? err.message : err);
    }

    /* A paints API call: the envelope's data, or an Error with the server's reason. */
    async function api(path, method, data) {
        const res = await client.request({ url: base + path, method, data });
        const body = res.data;
        if (res.statusCode !== 200 || !body || body.code !== 0) {
            const reason = body && body.error ? body.error.reason : 'HTTP ' + res.statusCode;
            const e = new Error((body && body.error && body.error.message) || reason);
            e.code = reason;
            throw e;
        }
        return body;
    }

    /* ---------------------------------------------------------------- signing in */

    function showSignedIn(user) {
        $('signin').hidden = true;
        $('app').hidden = false;
        $('who').hidden = false;
        const nick = typeof user.nickName === 'string' && user.nickName ? user.nickName : '';
        $('nick').textContent = nick || '(no nickname)';
        $('openid').textContent = user.openId || '';
        $('protocol').textContent = protocol === 'token' ? 'token session (Bearer)'
            : 'legacy session (X-WX-Code)';
        $('avatar').textContent = (Array.from(nick)[0] || wx.getUser().slice(0, 1)).toUpperCase();
    }

    function showSignedOut() {
        $('signin').hidden = false;
        $('app').hidden = true;
        $('who').hidden = true;
        $('paints').textContent = '';
    }

    /* GET {base}/session through the client: logs in on the first call. */
    async function openSession() {
        setStatus('Signing in as ' + wx.getUser() + '…');
        setState('loading');
        try {
            const res = await client.request({ url: base + '/session' });
            const user = res.data && res.data.wxUserInfo;
            if (!user)
                throw new Error('the server answered without a user (HTTP ' + res.statusCode + ')');
            showSignedIn(user);
            setStatus('Signed in as ' + wx.getUser() + '.');
            await loadPaints(true);
            setState('ready');
        } catch (e) {
            showSignedOut();
            setState('signed-out');
            setStatus('Sign-in failed: ' + describe(e), true);
        }
    }

    /* Signs in as test user `name`, who also shows as the nickName (the simulator signs it into
     * rawData, as WeChat does for a real user's profile). */
    function signIn(name) {
        protocol = $('legacy').checked ? 'legacy' : 'token';
        localStorage.setItem(PROTOCOL_KEY, protocol);
        client.clearSession();
        client = makeClient(protocol);
        wx.setUser(name, name);
        client.clearSession();
        localStorage.setItem(USER_KEY, name);
        return openSession();
    }

    /* Token mode ends the session on the server (POST logout); legacy mode, which has no
     * logout, forgets the code. Signed out here either way. */
    async function signOut() {
        let failed = null;
        if (client.mode === 'token') {
            try {
                await client.logout();
            } catch (e) {
                failed = e;
            }
        } else {
            client.clearSession();
        }
        localStorage.removeItem(USER_KEY);
        clearBoard();
        showSignedOut();
        setState('signed-out');
        if (failed)
            setStatus('Signed out here; the server did not confirm: ' + describe(failed), true);
        else
            setStatus('Signed out.');
    }

    /* ---------------------------------------------------------------- the board */

    function redrawBoard() {
        stroke.draw(boardCtx, current, board.width, board.height);
    }

    function clearBoard() {
        current = stroke.createStroke({ width: board.width, height: board.height });
        $('save').disabled = true;
        redrawBoard();
    }

    /* Board coordinates of a pointer event (the canvas is scaled by CSS). */
    function boardPoint(ev) {
        const r = board.getBoundingClientRect();
        return [(ev.clientX - r.left) * (board.width / r.width),
            (ev.clientY - r.top) * (board.height / r.height)];
    }

    function onPointerDown(ev) {
        if (ev.button !== undefined && ev.button !== 0)
            return;
        ev.preventDefault();
        drawing = true;
        if (board.setPointerCapture && ev.pointerId !== undefined)
            board.setPointerCapture(ev.pointerId);
        current = stroke.createStroke({ width: board.width, height: board.height });
        const [x, y] = boardPoint(ev);
        stroke.addPoint(current, x, y);
        redrawBoard();
    }

    function onPointerMove(ev) {
        if (!drawing)
            return;
        ev.preventDefault();
        const [x, y] = boardPoint(ev);
        if (stroke.addPoint(current, x, y))
            redrawBoard();
    }

    function onPointerUp() {
        if (!drawing)
            return;
        drawing = false;
        $('save').disabled = current.points.length < 2;
    }

    async function save() {
        $('save').disabled = true;
        setStatus('Saving…');
        try {
            await api('/session/paints/save', 'POST',
                { id: stroke.newId(), actions: stroke.serialize(current) });
            clearBoard();
            setStatus('Saved.');
            await loadPaints(true);
        } catch (e) {
            $('save').disabled = false;
            setStatus('Save failed: ' + describe(e), true);
        }
    }

    /* ---------------------------------------------------------------- the list */

    function button(className, text, label) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = className;
        b.textContent = text;
        if (label)
            b.setAttribute('aria-label', label);
        return b;
    }

    /* The picture of a drawing: a canvas with the stroke, or a note when the actions are not a
     * stroke this page can read (another client's format, a newer version, garbage). */
    function picture(actions) {
        const s = stroke.parse(actions);
        if (!s || s.points.length === 0) {
            const note = document.createElement('div');
            note.className = 'unreadable';
            note.textContent = s ? 'Empty drawing' : 'Cannot draw this';
            note.title = s ? 'The drawing has no points.'
                : 'The actions are not a One Stroke drawing (version ' + stroke.VERSION + ').';
            return note;
        }
        const canvas = document.createElement('canvas');
        canvas.width = THUMB_W;
        canvas.height = THUMB_H;
        stroke.draw(canvas.getContext('2d'), s, THUMB_W, THUMB_H);
        return canvas;
    }

    /* Delete asks once: the first click shows Delete / Keep in the thumbnail's foot. */
    function askDelete(li) {
        for (const other of $('paints').querySelectorAll('li.confirming'))
            other.classList.remove('confirming');
        li.classList.add('confirming');
        li.querySelector('.delete-yes').focus();
    }

    function thumbnail(paint) {
        const li = document.createElement('li');
        li.className = 'thumb';
        li.dataset.id = paint.id;
        const time = document.createElement('time');
        const when = new Date(paint.createdAt || paint.updatedAt || Date.now());
        time.dateTime = when.toISOString();
        time.textContent = when.toLocaleString(undefined,
            { dateStyle: 'short', timeStyle: 'short' });
        const del = button('delete', 'Delete', 'Delete this drawing');
        del.addEventListener('click', () => askDelete(li));
        const ask = document.createElement('span');
        ask.className = 'ask';
        const yes = button('delete-yes', 'Delete', 'Yes, delete this drawing');
        const no = button('delete-no quiet', 'Keep', 'Keep this drawing');
        yes.addEventListener('click', () => remove(paint.id, yes));
        no.addEventListener('click', () => {
            li.classList.remove('confirming');
            del.focus();
        });
        ask.append(yes, no);
        const foot = document.createElement('div');
        foot.className = 'thumb-foot';
        foot.append(time, del, ask);
        li.append(picture(paint.actions), foot);
        return li;
    }

    function updateCount() {
        const n = $('paints').children.length;
        $('count').textContent = n ? '(' + n + (nextCursor ? '+' : '') + ')' : '';
        $('empty').hidden = n > 0;
    }

    /* Loads the first page (fresh) or the next one. */
    async function loadPaints(fresh) {
        let path = '/session/paints/list?limit=' + PAGE_SIZE;
        if (!fresh && nextCursor)
            path += '&cursor=' + encodeURIComponent(nextCursor);
        try {
            const body = await api(path, 'GET');
            if (fresh)
                $('paints').textContent = '';
            for (const paint of body.data || [])
                $('paints').append(thumbnail(paint));
            nextCursor = body.next || null;
            $('more').hidden = !nextCursor;
            updateCount();
        } catch (e) {
            setStatus('Could not list drawings: ' + describe(e), true);
        }
    }

    async function remove(id, control) {
        control.disabled = true;
        try {
            await api('/session/paints/delete', 'POST', { id });
            const li = $('paints').querySelector('li[data-id="' + CSS.escape(id) + '"]');
            if (li)
                li.remove();
            updateCount();
            setStatus('Deleted.');
        } catch (e) {
            control.disabled = false;
            setStatus('Delete failed: ' + describe(e), true);
        }
    }

    /* ---------------------------------------------------------------- wiring */

    $('signin-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const name = $('user').value.trim();
        if (name)
            signIn(name);
    });
    $('signout').addEventListener('click', signOut);
    $('clear').addEventListener('click', clearBoard);
    $('save').addEventListener('click', save);
    $('more').addEventListener('click', () => loadPaints(false));
    board.addEventListener('pointerdown', onPointerDown);
    board.addEventListener('pointermove', onPointerMove);
    board.addEventListener('pointerup', onPointerUp);
    board.addEventListener('pointercancel', onPointerUp);
    redrawBoard();
    $('legacy').checked = protocol === 'legacy';
    setState('signed-out');

    /* A reload keeps the user and (through wx storage) the token or the session code. */
    const saved = localStorage.getItem(USER_KEY);
    if (saved) {
        wx.setUser(saved, saved);
        $('user').value = saved;
        openSession();
    }
})();
