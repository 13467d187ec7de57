// The WebSocket to /v1/ws speaking confab.v1 (docs/protocol.md): requests with ids answered
// as promises, events handed on, reconnects with jittered exponential backoff, a ping that
// notices a dead link, and the state shown to the user (connecting, online, reconnecting).

const MAX_BACKOFF_MS = 15000;
const PING_EVERY_MS = 30000;
const HEALTHY_MS = 10000;   // a connection that lasted this long resets the backoff
const CLOSE_TEXT = {
    1001: 'The server went away.',
    4008: 'The connection fell behind; resuming…',
    4029: 'Too many messages refused; reconnecting…',
};

export class ConnError extends Error {
    constructor(code, message) {
        super(message || code);
        this.code = code;
    }
}

export class Conn {
    // hooks: open() when a socket is open (say hello there), event(obj) for events and
    // replies nobody waits for, status(state, text), closed() when a socket is gone,
    // notice(text) for things worth a toast.
    constructor(hooks) {
        this.hooks = hooks;
        this.ws = null;
        this.wanted = false;
        this.attempt = 0;
        this.everOnline = false;
        this.onlineAt = 0;
        this.nextId = 1;
        this.waiting = new Map();   // id -> {resolve, reject}
        this.retryTimer = 0;
        this.retryAt = 0;
        this.countdown = 0;
        this.pingTimer = 0;
        this.heard = false;          // any frame since the last ping
        this.byeSeen = false;
        this.state = 'offline';
        window.addEventListener('online', () => this.retryNow());
    }

    get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }

    start() {
        this.wanted = true;
        this.connect();
    }

    stop() {
        this.wanted = false;
        clearTimeout(this.retryTimer);
        clearInterval(this.countdown);
        const ws = this.ws;
        if (ws) {
            this.ws = null;
            ws.close(1000);
            this.closed();
        }
        this.everOnline = false;
        this.attempt = 0;
        this.setStatus('offline', 'Signed out');
    }

    retryNow() {
        if (!this.wanted || this.ws) return;
        this.attempt = 0;
        this.connect();
    }

    // Sends a command; resolves with the reply, rejects with a ConnError (the server's code, or
    // 'disconnected' when the socket went first).
    request(obj) {
        if (!this.open) return Promise.reject(new ConnError('disconnected', 'Not connected'));
        const id = this.nextId++;
        this.ws.send(JSON.stringify({ ...obj, id }));
        return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    }

    // Fire and forget (typing): errors are the caller's to ignore.
    send(obj) {
        this.request(obj).catch(() => {});
    }

    // The app says the session is ready (hello answered, rooms joined).
    online() {
        this.everOnline = true;
        this.onlineAt = Date.now();
        this.setStatus('online', 'Online');
    }

    setStatus(state, text) {
        this.state = state;
        this.hooks.status(state, text);
    }

    connect() {
        clearTimeout(this.retryTimer);
        clearInterval(this.countdown);
        if (!this.wanted || this.ws) return;
        this.setStatus(this.everOnline ? 'reconnecting' : 'connecting',
            this.everOnline ? 'Reconnecting…' : 'Connecting…');
        const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
        let ws;
        try {
            ws = new WebSocket(url, 'confab.v1');
        } catch {
            this.scheduleRetry(0);
            return;
        }
        this.ws = ws;
        ws.onopen = () => {
            if (this.ws !== ws) return;
            this.startPing();
            this.hooks.open();
        };
        ws.onmessage = (e) => { if (this.ws === ws) this.onFrame(e.data); };
        ws.onclose = (e) => {
            if (this.ws !== ws) return;
            this.ws = null;
            this.closed();
            this.scheduleRetry(e.code);
        };
    }

    // Forget the socket's requests and timers (each waiting request fails).
    closed() {
        clearInterval(this.pingTimer);
        const waiting = [...this.waiting.values()];
        this.waiting.clear();
        for (const w of waiting) w.reject(new ConnError('disconnected', 'Connection lost'));
        this.hooks.closed();
    }

    scheduleRetry(code) {
        if (!this.wanted) return;
        if (CLOSE_TEXT[code] && !this.byeSeen) this.hooks.notice(CLOSE_TEXT[code]);
        this.byeSeen = false;
        if (this.onlineAt && Date.now() - this.onlineAt > HEALTHY_MS) this.attempt = 0;
        this.onlineAt = 0;
        const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt++);
        const delay = Math.round(base / 2 + Math.random() * base / 2);
        this.retryAt = Date.now() + delay;
        const show = () => {
            const s = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
            this.setStatus('reconnecting', `Offline, reconnecting in ${s} s`);
        };
        show();
        this.countdown = setInterval(show, 1000);
        this.retryTimer = setTimeout(() => this.connect(), delay);
    }

    // Give up on the current socket at once (no pong; a refused hello) and retry later.
    drop() {
        const ws = this.ws;
        if (!ws) return;
        this.ws = null;
        try { ws.close(1000); } catch { /* closing already */ }
        this.closed();
        this.scheduleRetry(0);
    }

    startPing() {
        clearInterval(this.pingTimer);
        this.heard = true;
        this.pingTimer = setInterval(() => {
            if (!this.heard) return this.drop();
            this.heard = false;
            this.send({ op: 'ping' });
        }, PING_EVERY_MS);
    }

    onFrame(data) {
        if (typeof data !== 'string') return;
        this.heard = true;
        for (const line of data.split('\n')) {
            if (!line.trim()) continue;
            let o;
            try { o = JSON.parse(line); } catch { console.warn('confab: unparsable line', line); continue; }
            if (o && typeof o === 'object') this.dispatch(o);
        }
    }

    dispatch(o) {
        const w = o.id != null && !o.ev ? this.waiting.get(o.id) : undefined;
        if (w) {
            this.waiting.delete(o.id);
            if (o.error) w.reject(new ConnError(o.error.code || 'error', o.error.message));
            else w.resolve(o);
            return;
        }
        if (o.ev === 'bye') {
            this.byeSeen = true;
            this.hooks.notice(`Server: ${o.reason || 'closing the connection'}`);
            this.setStatus('reconnecting', 'The server is closing the connection…');
            return;
        }
        if (o.error) return this.hooks.notice(o.error.message || o.error.code);
        this.hooks.event(o);
    }
}
