// confab web client: a single-room chat page speaking confab.v1 (docs/protocol.md) over
// WebSocket at /v1/ws. Plain ES2020, no dependencies, no build step. All user data is
// rendered with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
};
const byteLen = (s) => new TextEncoder().encode(s).length;
const randomNonce = () => Array.from(crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, '0')).join('');
const store = {
    get: (k) => { try { return localStorage.getItem('confab.' + k); } catch { return null; } },
    set: (k, v) => { try { localStorage.setItem('confab.' + k, v); } catch { /* private mode */ } },
};

const MAX_BACKOFF_MS = 10000;
const PING_EVERY_MS = 30000;
const MAX_RENDERED = 1000;
const CLOSE_TEXT = {
    1001: 'The server went away.',
    4008: 'The connection fell behind; resuming…',
    4029: 'Too many messages refused; reconnecting…',
};
const ERROR_TEXT = {
    rate_limited: 'You are sending too fast; retrying in a moment.',
    unavailable: 'The server could not deliver that yet; retrying.',
    text_too_long: 'That message is too long.',
};

const S = {
    name: '', room: '', me: null, maxText: 4096, rate: 10, burst: 20,
    wanted: false, ws: null, byeSeen: false, joined: false, joinedAt: 0, everJoined: false,
    attempt: 0, retryTimer: 0, pingTimer: 0, pingWaiting: false,
    nextId: 1, requests: new Map(),   // id -> {op, nonce}, for the current connection
    epoch: null, lastSeq: 0, seen: new Set(), // seqs rendered in the current epoch
    pending: new Map(),               // nonce -> {text, li, label, seq, timer}
    members: new Map(), unread: 0,
};

const ui = {};

// ---- rendering helpers ----

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined,
    { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function timeEl(ts) {
    const d = new Date(ts);
    const t = el('time', 'time',
        (d.toDateString() === new Date().toDateString() ? timeFmt : dateFmt).format(d));
    t.dateTime = d.toISOString();
    t.title = d.toLocaleString();
    return t;
}

function hue(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.codePointAt(0)) % 360;
    return h;
}

function avatar(user) {
    const a = el('span', 'avatar', Array.from(user.name || '?')[0].toUpperCase());
    a.style.setProperty('--hue', hue(user.id));
    a.setAttribute('aria-hidden', 'true');
    return a;
}

function messageEl(from, text, meta, own) {
    const li = el('li', own ? 'msg own' : 'msg');
    const head = el('div', 'meta');
    const who = el('span', 'from', own ? 'You' : from.name);
    who.style.setProperty('--hue', hue(from.id));
    who.title = from.name;
    head.append(who, ' ', meta);
    const body = el('div', 'bubble');
    body.append(head, el('p', 'text', text));
    li.append(avatar(from), body);
    return li;
}

function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
}

function withScroll(fn, force) {
    const stick = force || nearBottom();
    fn();
    while (ui.messages.children.length > MAX_RENDERED) ui.messages.firstElementChild.remove();
    if (stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

function notice(text) {
    withScroll(() => ui.messages.append(el('li', 'notice', text)));
}

function toast(text) {
    const t = el('p', 'toast', text);
    ui.toasts.append(t);
    while (ui.toasts.children.length > 3) ui.toasts.firstElementChild.remove();
    setTimeout(() => t.remove(), 5000);
}

function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
    ui.retry.hidden = state !== 'offline';
    document.body.classList.toggle('is-offline', state !== 'online');
}

function updateTitle() {
    document.title = (S.unread ? `(${S.unread}) ` : '') + `#${S.room} · confab`;
}

function renderMembers() {
    const list = [...S.members.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    ui.memberList.replaceChildren(...list.map((u) => {
        const li = el('li', 'member');
        li.append(avatar(u), el('span', 'member-name', u.name));
        if (S.me && u.id === S.me.id) li.append(el('span', 'you', '(you)'));
        return li;
    }));
    ui.memberCount.textContent = String(list.length);
}

// ---- messages ----

function insertSorted(li, seq) {
    li.dataset.seq = String(seq);
    if (seq > S.lastSeq) return ui.messages.append(li);
    for (const other of ui.messages.querySelectorAll('[data-seq]')) {
        if (Number(other.dataset.seq) > seq) return ui.messages.insertBefore(li, other);
    }
    ui.messages.append(li);
}

function addMsg(m) {
    if (m.room !== S.room || typeof m.seq !== 'number' || S.seen.has(m.seq)) return;
    const own = !!S.me && m.from && m.from.id === S.me.id;
    const from = m.from || { id: '?', name: '?' };
    withScroll(() => insertSorted(messageEl(from, String(m.text ?? ''), timeEl(m.ts), own), m.seq));
    S.seen.add(m.seq);
    S.lastSeq = Math.max(S.lastSeq, m.seq);
    settlePending();
    if (!own && document.hidden) { S.unread++; updateTitle(); }
}

// A pending send is done once its seq is known and the msg event for it has been rendered
// (then the pending bubble goes), or the event can no longer come (then the bubble stays).
function settlePending(epochChanged) {
    for (const [nonce, p] of S.pending) {
        if (p.seq == null) continue;
        if (!epochChanged && S.seen.has(p.seq)) {
            p.li.remove();
        } else if (epochChanged || p.seq <= S.lastSeq) {
            p.li.classList.remove('pending');
            p.label.replaceWith(timeEl(Date.now()));
        } else {
            continue;
        }
        clearTimeout(p.timer);
        S.pending.delete(nonce);
    }
}

function sendPending(nonce) {
    const p = S.pending.get(nonce);
    if (!p || p.seq != null || !S.joined) return;
    clearTimeout(p.timer);
    p.label.textContent = 'sending…';
    request({ op: 'send', room: S.room, text: p.text, nonce });
}

function failPending(nonce, why) {
    const p = S.pending.get(nonce);
    if (!p) return;
    S.pending.delete(nonce);
    clearTimeout(p.timer);
    p.li.classList.add('failed');
    p.label.textContent = 'not sent: ' + why;
    const dismiss = el('button', 'link', 'Dismiss');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => { p.li.remove(); ui.text.focus(); });
    p.label.after(' ', dismiss);
}

function submitText() {
    const text = ui.text.value.trimEnd();
    if (!text.trim()) return;
    const bytes = byteLen(text);
    if (bytes > S.maxText) return toast(`Message too long (${bytes} of ${S.maxText} bytes).`);
    const nonce = randomNonce();
    const label = el('span', 'time', S.joined ? 'sending…' : 'waiting for connection…');
    const li = messageEl(S.me || { id: S.name, name: S.name }, text, label, true);
    li.classList.add('pending');
    S.pending.set(nonce, { text, li, label, seq: null, timer: 0 });
    withScroll(() => ui.pending.append(li), true);
    ui.text.value = '';
    autoGrow();
    sendPending(nonce);
}

// ---- connection ----

function request(obj) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return 0;
    const id = S.nextId++;
    S.requests.set(id, { op: obj.op, nonce: obj.nonce });
    S.ws.send(JSON.stringify({ ...obj, id }));
    return id;
}

function connect() {
    clearTimeout(S.retryTimer);
    if (!S.wanted || S.ws) return;
    setStatus('connecting', S.everJoined ? 'Reconnecting…' : 'Connecting…');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
    let ws;
    try {
        ws = new WebSocket(url, 'confab.v1');
    } catch (e) {
        return onClosed(0);
    }
    S.ws = ws;
    S.requests.clear();
    ws.onopen = () => { if (S.ws === ws) request(S.name ? { op: 'hello', name: S.name } : { op: 'hello' }); };
    ws.onmessage = (e) => { if (S.ws === ws) onFrame(e.data); };
    ws.onclose = (e) => { if (S.ws === ws) onClosed(e.code); };
}

function onClosed(code) {
    S.ws = null;
    S.joined = false;
    clearInterval(S.pingTimer);
    for (const p of S.pending.values()) if (p.seq == null) p.label.textContent = 'waiting for connection…';
    if (!S.wanted) return;
    if (CLOSE_TEXT[code] && !S.byeSeen) toast(CLOSE_TEXT[code]);
    S.byeSeen = false;
    if (S.joinedAt && Date.now() - S.joinedAt > 10000) S.attempt = 0; // it was a healthy connection
    S.joinedAt = 0;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** S.attempt++);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    setStatus('offline', `Offline, reconnecting in ${Math.ceil(delay / 1000)} s`);
    S.retryTimer = setTimeout(connect, delay);
}

// Give up on the current socket at once (e.g. no pong) without waiting for a close handshake.
function dropConnection() {
    const ws = S.ws;
    if (!ws) return;
    S.ws = null;
    try { ws.close(1000); } catch { /* already closing */ }
    onClosed(0);
}

function onFrame(data) {
    if (typeof data !== 'string') return;
    S.pingWaiting = false;
    for (const line of data.split('\n')) {
        if (!line.trim()) continue;
        let obj;
        try { obj = JSON.parse(line); } catch { console.warn('confab: unparsable line', line); continue; }
        if (obj && typeof obj === 'object') dispatch(obj);
    }
}

function dispatch(o) {
    const req = o.id != null ? S.requests.get(o.id) : undefined;
    if (req) S.requests.delete(o.id);
    if (o.ev) return onEvent(o);
    if (o.error) return onError(o.error, req);
    if (o.op === 'hello') return onHello(o);
    if (o.op === 'join') return onJoined(o);
    if (o.op === 'send' && req) {
        const p = S.pending.get(req.nonce);
        if (p && typeof o.seq === 'number') { p.seq = o.seq; p.label.textContent = 'sent'; settlePending(); }
    }
}

function onHello(o) {
    S.me = o.user;
    S.name = o.user.name; // a guest keeps its server-picked name (and nonce scope) on reconnect
    const lim = o.limits || {};
    if (lim.max_text > 0) S.maxText = lim.max_text;
    if (lim.rate > 0) S.rate = lim.rate;
    if (lim.burst > 0) S.burst = lim.burst;
    const join = { op: 'join', room: S.room };
    if (S.epoch != null) { join.since = S.lastSeq; join.epoch = S.epoch; }
    request(join);
}

function onJoined(o) {
    if (S.epoch != null && o.epoch !== S.epoch) {
        // The room was forgotten and restarted: old seqs mean nothing any more.
        ui.messages.querySelectorAll('[data-seq]').forEach((e) => e.removeAttribute('data-seq'));
        settlePending(true);
        S.seen.clear();
        S.lastSeq = 0;
    }
    S.epoch = o.epoch;
    if (o.gap) notice('Some messages were missed.');
    for (const m of o.history || []) addMsg(m);
    S.members = new Map((o.members || []).map((u) => [u.id, u]));
    renderMembers();
    S.joined = true;
    S.joinedAt = Date.now();
    setStatus('online', 'Connected');
    if (!S.everJoined) ui.text.focus();
    S.everJoined = true;
    settlePending();
    // Resend unacked messages (same nonce), paced to the server's token bucket.
    let n = 0;
    for (const [nonce, p] of S.pending) {
        if (p.seq != null) continue;
        const wait = Math.max(0, n++ - S.burst + 2) * 1000 / S.rate;
        clearTimeout(p.timer);
        if (wait) p.timer = setTimeout(() => sendPending(nonce), wait); else sendPending(nonce);
    }
    clearInterval(S.pingTimer);
    S.pingWaiting = false;
    S.pingTimer = setInterval(() => {
        if (S.pingWaiting) return dropConnection();
        S.pingWaiting = true;
        request({ op: 'ping' });
    }, PING_EVERY_MS);
}

// The server says the room's history after o.seq is missing or void (cluster mode: a trimmed
// log, a Redis failover, a room that restarted): forget those seqs, so that the messages that
// reuse them are shown, and resume from (o.epoch, o.seq).
function onGap(o) {
    ui.messages.querySelectorAll('[data-seq]').forEach((e) => {
        if (Number(e.dataset.seq) > o.seq) e.removeAttribute('data-seq');
    });
    for (const seq of [...S.seen]) if (seq > o.seq) S.seen.delete(seq);
    S.lastSeq = Math.min(S.lastSeq, o.seq);
    S.epoch = o.epoch;
    settlePending(true);
    notice('Some messages were missed.');
}

function onEvent(o) {
    if (o.ev === 'msg') return addMsg(o);
    if (o.ev === 'gap' && o.room === S.room) return onGap(o);
    if (o.ev === 'bye') {
        S.byeSeen = true;
        setStatus('connecting', 'Server is closing the connection…');
        return toast(`Server: ${o.reason || 'closing the connection'}`);
    }
    if ((o.ev === 'join' || o.ev === 'leave') && o.room === S.room && o.user) {
        if (o.ev === 'join') S.members.set(o.user.id, o.user);
        else S.members.delete(o.user.id);
        renderMembers();
    }
}

function onError(err, req) {
    const code = err.code || 'error';
    const text = ERROR_TEXT[code] || err.message || code;
    const op = req && req.op;
    if (op === 'hello' || op === 'join') {
        if (!S.everJoined || /_invalid$/.test(code)) return leaveChat(err.message || code);
        toast(text);
        return dropConnection(); // try again with backoff
    }
    if (op === 'send') {
        const p = S.pending.get(req.nonce);
        if (p && (code === 'rate_limited' || code === 'unavailable')) {
            p.label.textContent = 'retrying…';
            clearTimeout(p.timer);
            p.timer = setTimeout(() => sendPending(req.nonce), 1000 + Math.random() * 1000);
        } else if (p && code !== 'not_joined') {
            failPending(req.nonce, text);
            return;
        }
    }
    toast(text);
}

// ---- views ----

function startChat(name, room) {
    Object.assign(S, { name, room, me: null, wanted: true, everJoined: false, attempt: 0,
        epoch: null, lastSeq: 0, seen: new Set(), pending: new Map(), members: new Map(), unread: 0 });
    ui.messages.replaceChildren();
    ui.pending.replaceChildren();
    ui.toasts.replaceChildren();
    ui.roomName.textContent = room;
    ui.text.placeholder = `Message #${room}`;
    renderMembers();
    updateTitle();
    ui.joinView.hidden = true;
    ui.chatView.hidden = false;
    connect();
}

function leaveChat(error) {
    S.wanted = false;
    clearTimeout(S.retryTimer);
    clearInterval(S.pingTimer);
    for (const p of S.pending.values()) clearTimeout(p.timer);
    const ws = S.ws;
    if (ws) {
        if (S.joined) request({ op: 'leave', room: S.room });
        S.ws = null;
        ws.close(1000);
    }
    S.joined = false;
    ui.chatView.hidden = true;
    ui.joinView.hidden = false;
    document.title = 'confab';
    ui.joinError.hidden = !error;
    ui.joinError.textContent = error || '';
    (error ? ui.name : ui.joinButton).focus();
}

function validName(s, max) {
    // 1..max bytes of UTF-8, no control characters (C0, DEL, C1).
    return s.length > 0 && byteLen(s) <= max && !/[\u0000-\u001f\u007f-\u009f]/.test(s);
}

function onJoinSubmit(e) {
    e.preventDefault();
    const name = ui.name.value.trim();
    const room = ui.room.value.trim() || 'lobby';
    let error = '';
    if (name && !validName(name, 32)) error = 'Names are up to 32 bytes, without control characters.';
    else if (!validName(room, 64)) error = 'Room names are up to 64 bytes, without control characters.';
    if (error) {
        ui.joinError.textContent = error;
        ui.joinError.hidden = false;
        return;
    }
    store.set('name', name);
    store.set('room', room);
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    history.replaceState(null, '', url);
    startChat(name, room);
}

function autoGrow() {
    // border-box sizing: the height must include the border, or the content overflows by the
    // border's width and a scrollbar appears. The CSS max-height caps it.
    const t = ui.text;
    t.style.height = 'auto';
    t.style.height = (t.scrollHeight + t.offsetHeight - t.clientHeight) + 'px';
}

function init() {
    for (const id of ['join-view', 'join-form', 'join-error', 'name', 'room', 'chat-view', 'room-name',
        'status-text', 'retry', 'members-toggle', 'member-count', 'member-list', 'leave', 'scroller',
        'messages', 'pending', 'toasts', 'send-form', 'text']) {
        ui[id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = $(id);
    }
    ui.status = ui.statusText.parentElement;
    ui.joinButton = ui.joinForm.querySelector('button[type=submit]');

    const urlRoom = new URLSearchParams(location.search).get('room');
    ui.name.value = store.get('name') || '';
    ui.room.value = urlRoom || store.get('room') || 'lobby';
    (ui.name.value ? ui.joinButton : ui.name).focus();

    ui.joinForm.addEventListener('submit', onJoinSubmit);
    ui.sendForm.addEventListener('submit', (e) => { e.preventDefault(); submitText(); ui.text.focus(); });
    ui.text.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            submitText();
        }
    });
    ui.text.addEventListener('input', autoGrow);
    ui.leave.addEventListener('click', () => leaveChat(''));
    ui.retry.addEventListener('click', () => { S.attempt = 0; connect(); });
    ui.membersToggle.addEventListener('click', () => {
        const open = ui.chatView.classList.toggle('show-members');
        ui.membersToggle.setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && ui.chatView.classList.contains('show-members')) ui.membersToggle.click();
    });
    document.addEventListener('visibilitychange', () => {
        if (!document.hidden && S.unread) { S.unread = 0; updateTitle(); }
    });
    window.addEventListener('online', () => { if (S.wanted && !S.ws) { S.attempt = 0; connect(); } });
}

init();
