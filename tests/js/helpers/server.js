/* server.js: start and stop the real wxsessiond (--dev: SQLite or Redis, and the WeChat
 * simulator on the same port) and redis-server for the JS tests, on free loopback ports. */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const START_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 10000;

function buildDir() {
    const dir = process.env.WXS_BUILD_DIR || 'build';
    return path.resolve(REPO, dir);
}

function wxsessiondPath() {
    const bin = path.join(buildDir(), 'wxsessiond');
    if (!fs.existsSync(bin)) {
        throw new Error(`${bin} is missing: build it first (cmake -S . -B build && ` +
            'cmake --build build -j2) or set WXS_BUILD_DIR');
    }
    return bin;
}

/* A free loopback TCP port (for programs that cannot be told to pick one). */
function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/* Resolves when `pattern` shows in the child's stream, rejects on exit or timeout. */
function waitForOutput(child, stream, pattern, what) {
    return new Promise((resolve, reject) => {
        let seen = '';
        const timer = setTimeout(() => done(new Error(`${what}: not ready after ` +
            `${START_TIMEOUT_MS} ms; output so far:\n${seen}`)), START_TIMEOUT_MS);
        function done(err, match) {
            clearTimeout(timer);
            stream.off('data', onData);
            child.off('exit', onExit);
            if (err)
                reject(err);
            else
                resolve(match);
        }
        function onData(chunk) {
            seen += chunk;
            const m = pattern.exec(seen);
            if (m)
                done(null, m);
        }
        function onExit(code, signal) {
            done(new Error(`${what} exited early (${code ?? signal}):\n${seen}`));
        }
        stream.setEncoding('utf8');
        stream.on('data', onData);
        child.on('exit', onExit);
    });
}

/* Sends SIGTERM and resolves to the exit code (SIGKILL after STOP_TIMEOUT_MS: null). */
function stopChild(child) {
    if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        child.once('exit', (code) => {
            clearTimeout(timer);
            resolve(code);
        });
        child.kill('SIGTERM');
    });
}

const UNLIMITED_LOGINS = ['--limits-logins-per-minute=1000000', '--limits-login-burst=1000000'];

/**
 * Starts `wxsessiond --dev` on a port it picks itself (--port 0, read back from its
 * "listening on 127.0.0.1:P" log line on stderr). options.args: extra flags (e.g. ['--store', 'redis']).
 * Resolves to {origin, base, port, stderr(), stop(), sim: {login, phoneCode, stats, config}}
 * (phoneCode(user): the simulator's answer to GET /__wxsim/phone-code, {code, phoneNumber,
 * ...} for a getPhoneNumber button tapped by user, or null when it has no such route); stop()
 * resolves to the exit code (0 on a clean SIGTERM stop) and removes the temp directory.
 */
async function startServer(options) {
    const o = options || {};
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wxs-js-'));
    const extra = o.args || [];
    // tests log in far more often than a client would: the login limiter is raised out of the
    // way unless a test sets it itself
    const limits = extra.some((a) => a.startsWith('--limits-login')) ? [] : UNLIMITED_LOGINS;
    const args = ['--dev', '--port', '0', '--sqlite-path', path.join(tmp, 'wxs.db'), ...limits,
        ...extra];
    const child = spawn(wxsessiondPath(), args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let errText = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => {
        errText += c;
    });
    child.stdout.resume();
    let port;
    try {
        const m = await waitForOutput(child, child.stderr, /listening on [^\s]*:(\d+)/,
            'wxsessiond');
        port = Number(m[1]);
    } catch (e) {
        await stopChild(child);
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new Error(e.message + '\nstderr:\n' + errText);
    }
    const origin = `http://127.0.0.1:${port}`;
    const server = {
        port,
        origin,
        base: origin + '/applet',
        stderr: () => errText,
        async stop() {
            const code = await stopChild(child);
            fs.rmSync(tmp, { recursive: true, force: true });
            return code;
        },
        sim: {
            login: async (user) =>
                (await fetch(`${origin}/__wxsim/login?user=${encodeURIComponent(user)}`)).json(),
            phoneCode: async (user) => {
                const r = await fetch(`${origin}/__wxsim/phone-code?user=` +
                    encodeURIComponent(user));
                return r.status === 200 ? r.json() : null;
            },
            stats: async () => (await fetch(`${origin}/__wxsim/stats`)).json(),
            config: async (cfg) => (await fetch(`${origin}/__wxsim/config`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(cfg),
            })).json(),
        },
    };
    return server;
}

function haveRedis() {
    return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/* Starts a throw-away redis-server on a free loopback port, no persistence. Resolves to
 * {port, stop()}. */
async function startRedis() {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
        await waitForOutput(child, child.stdout, /Ready to accept connections/, 'redis-server');
    } catch (e) {
        await stopChild(child);
        throw e;
    }
    child.stdout.resume();
    child.stderr.resume();
    return { port, stop: () => stopChild(child) };
}

module.exports = { REPO, buildDir, freePort, startServer, startRedis, haveRedis, stopChild };
