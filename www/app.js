// confab web client: signs in (account, or guest), keeps the user's rooms and direct messages
// in a sidebar with unread counts, and speaks confab.v1 (docs/protocol.md) over WebSocket at
// /v1/ws. Plain ES modules, no dependencies, no build step. User text is only ever rendered
// with textContent; the token lives in localStorage, never in a URL.
import { el, button, avatar, byteLen, store, validName } from './js/util.js';
import { Conn } from './js/conn.js';
import { Room } from './js/room.js';
import { Dm, normalId } from './js/dm.js';
import { ERRORS, errorText } from './js/errors.js';
import { loadState, saveState, forgetState } from './js/state.js';
import { renderSidebar, updateTitle, openSidebar, closeSidebar } from './js/sidebar.js';
import { renderMembers, openSettings, rulesText, kickedText } from './js/moderation.js';
import { notify, notifyState, toggleNotify } from './js/notify.js';

// hello's limits until it has answered (docs/protocol.md, hello).
const DEFAULT_LIMITS = {
    max_text: 4096, rate: 10, burst: 20, history: 100, max_name: 32, typing_ttl: 6000,
};

const DIRECTORY_PAGE = 10; // rooms per page of the join dialog's directory

const ui = {};
const app = {
    ui, conn: null, session: null, me: null, limits: { ...DEFAULT_LIMITS },
    rooms: new Map(), dms: new Map(), known: [], mids: new Set(), view: null, stateOf: null,
    pendingAuth: null, saveTimer: 0, started: false, syncTimer: 0, editing: null,
    linkRoom: null, // the room the page's address named when it was opened
    dir: { prefix: '', next: null, busy: null, timer: 0 }, // the join dialog's directory

    errorText,
    get accounts() { return !!this.session && this.session.kind === 'account'; },
    // The user sees the conversation: it is shown, the tab visible and the window focused.
    isRead(v) { return this.view === v && !document.hidden && document.hasFocus() && !v.holdRead; },
    mentions(text) {
        const name = this.me && this.me.name;
        if (!name) return false;
        const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        return new RegExp(`(^|[^\\p{L}\\p{N}_])@${esc}(?![\\p{L}\\p{N}_-])`, 'iu').test(text);
    },
    toast,
    // A room's unread count or read seq changed.
    roomChanged() {
        scheduleSave();
        renderSidebar(this);
    },
    // What the header and the member list show of a room changed (joined, its rules).
    roomInfoChanged(room) {
        if (room !== this.view) return;
        renderHeader();
        renderMembersNow();
    },
    dmChanged() {
        scheduleSave();
        renderSidebar(this);
    },
    messageArrived(room, from, text, mention) {
        if (room === this.view) announce(`${from.name}: ${text}`);
        if (mention) notify(`${from.name} in ${room.name}`, text, room.key, () => show(room));
    },
    joinFailed(room, e) {
        if (e.code === 'disconnected' || !this.rooms.has(room.name)) return;
        if (['rate_limited', 'unavailable', 'busy'].includes(e.code)) {
            setTimeout(() => room.join(), 1500 + Math.random() * 1500);
            return;
        }
        removeRoom(room, false);
        showAlert(`Could not join ${room.name} again: ${this.errorText(e, 'join')}`);
    },
    renderTyping() {
        ui.typing.textContent = this.view instanceof Room ? this.view.typingText() : '';
    },
    renderMembers: () => renderMembersNow(),
    // Asks for the account's read markers (after joins): one `unread` for a burst of them.
    syncMarkers() {
        if (!this.accounts || this.syncTimer) return;
        this.syncTimer = setTimeout(async () => {
            this.syncTimer = 0;
            try {
                applyMarkers((await this.conn.request({ op: 'unread' })).rooms);
            } catch { /* offline: the next join asks again */ }
        }, 50);
    },
    fillView,
    openDm,
    show,
    startEdit,
    stopEdit,
    confirmDelete,
};

// ---- small UI pieces ----

function toast(text) {
    const t = el('p', 'toast', text);
    ui.toasts.append(t);
    while (ui.toasts.children.length > 3) ui.toasts.firstElementChild.remove();
    setTimeout(() => t.remove(), 5000);
}

// New messages of the conversation shown, for screen readers (a polite live region apart
// from the lists, so that history loaded above is not read out).
function announce(text) {
    ui.announcer.append(el('p', null, text));
    while (ui.announcer.children.length > 3) ui.announcer.firstElementChild.remove();
}

function showAlert(text) {
    ui.alertText.textContent = text;
    ui.alert.hidden = false;
}

function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
    ui.retry.hidden = !text.startsWith('Offline');
    document.body.classList.toggle('is-offline', state !== 'online');
}

function autoGrow() {
    // border-box sizing: the height includes the border, or a scrollbar appears. CSS caps it.
    const t = ui.text;
    t.style.height = 'auto';
    t.style.height = (t.scrollHeight + t.offsetHeight - t.clientHeight) + 'px';
}

// ---- account state ----

function scheduleSave() {
    if (!app.saveTimer) app.saveTimer = setTimeout(saveNow, 250);
}

function saveNow() {
    clearTimeout(app.saveTimer);
    app.saveTimer = 0;
    saveState(app);
}

// ---- signing in and out ----

function showAuth(error) {
    ui.app.hidden = true;
    ui.authView.hidden = false;
    document.title = 'confab';
    ui.authError.textContent = error || '';
    ui.authError.hidden = !error;
    setAuthBusy(false);
    (ui.accountName.value ? ui.accountPassword : ui.accountName).focus();
}

function setAuthBusy(busy) {
    for (const b of [ui.signin, ui.signup, ui.guest]) b.disabled = busy;
}

function authError(text) {
    ui.authError.textContent = text;
    ui.authError.hidden = false;
    setAuthBusy(false);
}

function onAccountSubmit(e) {
    e.preventDefault();
    const op = e.submitter && e.submitter.value === 'register' ? 'register' : 'login';
    const name = ui.accountName.value.trim();
    const password = ui.accountPassword.value;
    if (!validName(name, DEFAULT_LIMITS.max_name)) return authError(ERRORS.user_name_invalid);
    if (!password) return authError('Enter your password.');
    ui.accountPassword.value = '';
    app.pendingAuth = { op, name, password };
    app.session = null;
    setAuthBusy(true);
    ui.authError.hidden = true;
    app.conn.start();
}

function onGuestSubmit(e) {
    e.preventDefault();
    const name = ui.guestName.value.trim();
    if (name && !validName(name, DEFAULT_LIMITS.max_name)) return authError(ERRORS.user_name_invalid);
    setAuthBusy(true);
    ui.authError.hidden = true;
    startSession({ kind: 'guest', name });
}

function startSession(session) {
    app.session = session;
    store.setJSON('session', session);
    app.conn.start();
}

// The socket is open: sign in (a pending login or register first), then say hello.
async function onOpen() {
    const conn = app.conn;
    try {
        if (app.pendingAuth) {
            const a = app.pendingAuth;
            app.pendingAuth = null;
            let o;
            try {
                o = await conn.request({ op: a.op, name: a.name, password: a.password });
            } catch (e) {
                conn.stop();
                return authError(e.code === 'disconnected' ? 'Could not reach the server: try again.'
                    : app.errorText(e, 'auth'));
            }
            app.session = { kind: 'account', token: o.token, user: o.user };
            store.setJSON('session', app.session);
        }
        const s = app.session;
        const hello = s.kind === 'account' ? { op: 'hello', token: s.token }
            : s.name ? { op: 'hello', name: s.name } : { op: 'hello' };
        onHello(await conn.request(hello));
    } catch (e) {
        if (e.code === 'disconnected') return; // the connection retries
        if (['rate_limited', 'busy', 'unavailable'].includes(e.code)) {
            toast(app.errorText(e));
            return conn.drop();
        }
        endSession(app.errorText(e, 'hello'));
    }
}

function onHello(o) {
    const s = app.session;
    app.me = o.user;
    app.limits = { ...DEFAULT_LIMITS, ...(o.limits || {}) };
    if (s.kind === 'guest') s.name = o.user.name; // a guest keeps its name (and nonces) on reconnect
    s.user = o.user;
    store.setJSON('session', s);
    if (app.stateOf !== o.user.id) loadState(app, o.user.id);
    showApp();
    app.conn.online();
    // A link to a room joins it; a first sign-in without one starts in the lobby.
    const link = app.linkRoom;
    app.linkRoom = null;
    if (link && !app.rooms.has(link)) addRoom(link);
    if (!app.started && !app.rooms.size) addRoom('lobby');
    app.started = true;
    for (const r of app.rooms.values()) r.join();
    for (const d of app.dms.values()) d.flush();
    if (link) show(app.rooms.get(link));
    else if (!app.view) show(initialView());
    scheduleSave();
}

function initialView() {
    const all = [...app.rooms.values(), ...app.dms.values()];
    return app.rooms.get(app.linkRoom) || all.find((v) => v.key === app.lastView) || all[0] || null;
}

// Back to the sign-in page (error: why). The account's state stays for its next sign-in.
function endSession(error) {
    saveNow();
    app.conn.stop();
    stopEdit();
    if (ui.deleteDialog.open) ui.deleteDialog.close();
    for (const r of app.rooms.values()) r.dispose();
    show(null);
    Object.assign(app, { session: null, me: null, rooms: new Map(), dms: new Map(),
        stateOf: null, known: [], mids: new Set(), started: false });
    store.del('session');
    ui.text.value = '';
    ui.toasts.replaceChildren();
    ui.announcer.replaceChildren();
    ui.alert.hidden = true;
    renderSidebar(app);
    showAuth(error);
}

async function signOut(everywhere) {
    const id = app.stateOf;
    if (everywhere) {
        try {
            await app.conn.request({ op: 'logout', all: true });
        } catch (e) {
            ui.signoutError.textContent = app.errorText(e);
            ui.signoutError.hidden = false;
            return;
        }
    }
    // Without `all`, logout changes nothing on the server: forgetting the token is signing out.
    ui.signoutDialog.close();
    endSession('');
    if (id) forgetState(id);
}

// ---- rooms and conversations ----

function addRoom(name) {
    const room = new Room(app, name, null);
    app.rooms.set(name, room);
    remember(name);
    return room;
}

function remember(name) {
    app.known = app.known.filter((n) => n !== name);
    app.known.push(name);
}

// Joins a room from the join dialog; throws the server's refusal.
async function joinNew(name) {
    let room = app.rooms.get(name);
    if (!room) {
        const o = await app.conn.request({ op: 'join', room: name });
        room = addRoom(name);
        room.onJoined(o);
    }
    show(room, true);
}

function removeRoom(room, leave) {
    room.stopTyping();
    if (leave && room.joined) app.conn.send({ op: 'leave', room: room.name });
    room.dispose();
    app.rooms.delete(room.name);
    if (app.view === room) show([...app.rooms.values()][0] || [...app.dms.values()][0] || null);
    renderSidebar(app);
    scheduleSave();
}

function openDm(id, name) {
    id = normalId(id);
    let dm = app.dms.get(id);
    if (!dm) {
        dm = new Dm(app, id, name || id.replace(/^guest:/, ''), null);
        app.dms.set(id, dm);
    }
    show(dm, true);
}

function onDm(ev) {
    if (!ev.from || typeof ev.from.id !== 'string') return;
    if (ev.mid) {
        if (app.mids.has(ev.mid)) return;
        app.mids.add(ev.mid);
    }
    let dm = app.dms.get(ev.from.id);
    if (!dm) {
        dm = new Dm(app, ev.from.id, ev.from.name, null);
        app.dms.set(ev.from.id, dm);
    }
    dm.receive(ev);
    if (dm === app.view) announce(`${ev.from.name || ev.from.id}: ${String(ev.text ?? '')}`);
    notify(ev.from.name || ev.from.id, String(ev.text ?? ''), dm.key, () => show(dm));
}

function onKicked(ev) {
    const room = app.rooms.get(ev.room);
    if (!room) return;
    room.joined = false; // the server has taken the session out already: no leave
    removeRoom(room, false);
    showAlert(kickedText(ev));
}

// Rows of an `unread` reply or of a `rooms` reply's `mine`: {room, seq, read, unread}.
function applyMarkers(rows) {
    if (!Array.isArray(rows)) return;
    for (const r of rows) {
        const room = r && typeof r.room === 'string' ? app.rooms.get(r.room) : null;
        if (room && room.joined && 'read' in r) room.onMarker(r.read);
    }
}

function onRead(room, o) {
    if (o.user && !(app.me && o.user.id === app.me.id)) room.onReceipt(o);
    else if (!o.user) room.onMarker(o.seq); // the account's marker, moved by any of its sessions
}

function onEvent(o) {
    const room = typeof o.room === 'string' ? app.rooms.get(o.room) : null;
    switch (o.ev) {
    case 'msg': case 'edit': case 'delete': if (room && room.joined) room.addEvent(o, true); break;
    case 'read': if (room) onRead(room, o); break;
    case 'join': case 'leave': if (room) room.onPresence(o); break;
    case 'typing': if (room) room.onTyping(o); break;
    case 'gap': if (room) room.onGap(o); break;
    case 'rules':
        if (!room) break;
        room.info = { ...(room.info || {}), kind: o.kind, topic: o.topic };
        if (rulesText(o)) room.notice(rulesText(o));
        room.fetchInfo();
        break;
    case 'kicked': onKicked(o); break;
    case 'dm': onDm(o); break;
    default: break; // events of later versions
    }
}

// ---- the view: one room or conversation at a time ----

function show(v, focus) {
    const old = app.view;
    const s = ui.scroller;
    if (old !== v) stopEdit(); // first: the draft comes back to the composer
    if (old && old !== v) {
        old.scrollTop = s.scrollHeight - s.scrollTop - s.clientHeight < 60 ? null : s.scrollTop;
        old.draft = ui.text.value;
        if (old instanceof Room) {
            old.stopTyping();
            old.removeMarker();
        }
    }
    app.view = v;
    // The address names the room shown, so that a reload or a link opens it.
    const url = new URL(location.href);
    if (v instanceof Room) url.searchParams.set('room', v.name);
    else url.searchParams.delete('room');
    history.replaceState(null, '', url);
    ui.empty.hidden = !!v;
    ui.sendForm.hidden = !v;
    if (v && old !== v) {
        s.replaceChildren(...(v.nodes || [v.list, v.pendingList]));
        ui.text.value = v.draft;
        autoGrow();
        if (v instanceof Room) v.placeMarker();
        if (v.scrollTop != null) s.scrollTop = v.scrollTop;
        else if (v.marker) s.scrollTop = v.marker.offsetTop - 40;
        else s.scrollTop = s.scrollHeight;
        if (app.isRead(v)) v.markRead();
    } else if (!v) {
        s.replaceChildren();
    }
    renderHeader();
    renderMembersNow();
    app.renderTyping();
    renderSidebar(app);
    scheduleSave();
    closeSidebar(ui, false);
    if (focus && v) ui.text.focus();
    fillView();
}

// Loads older messages until the view can scroll (a tall window, a short first page).
function fillView() {
    const v = app.view;
    const s = ui.scroller;
    if (v instanceof Room && s.scrollHeight <= s.clientHeight + 10) v.loadOlder();
}

function renderHeader() {
    const v = app.view;
    const room = v instanceof Room ? v : null;
    const info = (room && room.info) || {};
    ui.viewTitle.textContent = !v ? 'confab' : room ? `# ${room.name}` : v.name;
    ui.viewTitle.title = v && !room ? v.id : '';
    ui.viewTopic.textContent = room ? info.topic || '' : v ? `Direct messages with ${v.id}` : '';
    ui.viewKind.hidden = !room || !info.ruled;
    ui.viewKind.textContent = info.kind || '';
    const role = room ? room.role : 'none';
    ui.viewRole.hidden = role === 'none';
    ui.viewRole.textContent = `you: ${role}`;
    ui.roomSettings.hidden = !(room && info.ruled && (role === 'owner' || role === 'moderator'));
    ui.leaveRoom.hidden = !room;
    ui.membersToggle.hidden = !room;
    ui.members.hidden = !room;
    const readOnly = room && info.kind === 'announce' && role !== 'owner' && role !== 'moderator';
    ui.text.disabled = !!readOnly;
    ui.text.placeholder = readOnly ? 'Only moderators write here' : room ? `Message #${room.name}`
        : v ? `Message ${v.name}` : 'Message';
    updateTitle(app);
}

function renderMembersNow() {
    if (app.view instanceof Room) renderMembers(app, app.view);
    else ui.memberList.replaceChildren();
}

function showApp() {
    const me = app.me || (app.session && app.session.user);
    ui.authView.hidden = true;
    ui.app.hidden = false;
    setAuthBusy(false);
    if (me) {
        ui.meAvatar.replaceChildren(avatar(me));
        ui.meName.textContent = me.name;
        ui.meName.title = me.id;
    }
    const guest = !app.session || app.session.kind !== 'account';
    ui.meKind.textContent = guest ? 'guest' : 'account';
    ui.createGuest.hidden = !guest;
    ui.createFields.hidden = ui.createFields.disabled = guest;
    renderNotifyButton();
    renderSidebar(app);
    renderHeader();
}

// ---- dialogs ----

function openJoinDialog() {
    ui.joinError.hidden = ui.createError.hidden = true;
    const joined = new Set(app.rooms.keys());
    const known = app.known.filter((n) => !joined.has(n)).reverse();
    ui.known.replaceChildren(...known.map((name) => {
        const li = el('li');
        li.append(el('span', 'member-name', name),
            button('ghost small', 'Join', () => dialogJoin(name), `Join ${name}`));
        return li;
    }));
    ui.knownSection.hidden = !known.length;
    ui.joinDialog.showModal();
    ui.joinRoom.focus();
    loadDirectory(ui.directoryFilter.value.trim(), null);
}

// A page of the server's room directory (`rooms`): from the start for a new prefix, or after
// `after` (More rooms). The reply's `mine` refreshes the unread counts on the way.
async function loadDirectory(prefix, after) {
    const dir = app.dir;
    const req = { op: 'rooms', limit: DIRECTORY_PAGE };
    if (prefix) req.prefix = prefix;
    if (after) req.after = after;
    const p = dir.busy = app.conn.request(req);
    ui.directoryMore.disabled = true;
    let o;
    try {
        o = await p;
    } catch (e) {
        if (dir.busy !== p) return;
        dir.busy = null;
        return directoryStatus(app.errorText(e));
    }
    if (dir.busy !== p) return; // a newer filter won
    dir.busy = null;
    applyMarkers(o.mine);
    if (!after) ui.directory.replaceChildren();
    if (!Array.isArray(o.directory)) {
        ui.directoryMore.hidden = true;
        return directoryStatus('This server has no room directory.');
    }
    const joined = new Set(app.rooms.keys());
    for (const r of o.directory) {
        if (!r || typeof r.room !== 'string') continue;
        const li = el('li', 'dir-room');
        const about = el('div', 'dir-about');
        const head = el('div', 'dir-head');
        head.append(el('span', 'member-name', r.room), el('span', 'tag', String(r.kind || '')),
            el('span', 'muted small', `${Number(r.members) || 0} online`));
        about.append(head);
        if (r.topic) about.append(el('p', 'dir-topic muted small', String(r.topic)));
        li.dataset.room = r.room;
        li.append(about, joined.has(r.room) ? el('span', 'muted small', 'joined')
            : button('ghost small', 'Join', () => dialogJoin(r.room), `Join ${r.room}`));
        ui.directory.append(li);
    }
    dir.prefix = prefix;
    ui.directory.dataset.prefix = prefix; // which filter the list shows (the tests wait on it)
    dir.next = typeof o.next === 'string' ? o.next : null;
    ui.directoryMore.hidden = !dir.next;
    ui.directoryMore.disabled = false;
    directoryStatus(ui.directory.children.length ? ''
        : prefix ? `No listed room starts with “${prefix}”.` : 'No room is listed yet.');
}

function directoryStatus(text) {
    ui.directoryStatus.textContent = text;
    ui.directoryStatus.hidden = !text;
}

async function dialogJoin(name, create) {
    const err = create ? ui.createError : ui.joinError;
    ui.joinError.hidden = ui.createError.hidden = true;
    const fail = (text) => {
        err.textContent = text;
        err.hidden = false;
    };
    if (!validName(name, 64)) return fail(ERRORS.room_name_invalid);
    try {
        if (create) {
            const topic = ui.createTopic.value.trim();
            const create = { op: 'create', room: name, kind: ui.createKind.value };
            if (topic) create.topic = topic;
            await app.conn.request(create);
        }
        await joinNew(name);
    } catch (e) {
        return fail(app.errorText(e, create ? 'create' : 'join'));
    }
    ui.joinRoom.value = ui.createRoom.value = ui.createTopic.value = '';
    ui.joinDialog.close();
    ui.text.focus();
}

function renderNotifyButton() {
    const s = notifyState();
    ui.notifyToggle.textContent = { on: 'Notifications: on', off: 'Enable notifications',
        denied: 'Notifications blocked', unsupported: 'No notifications here' }[s];
    ui.notifyToggle.disabled = s === 'denied' || s === 'unsupported';
    ui.notifyToggle.setAttribute('aria-pressed', String(s === 'on'));
}

function toggleMembers() {
    const open = ui.app.classList.toggle('show-members');
    ui.membersToggle.setAttribute('aria-expanded', String(open));
}

// ---- wiring ----

function submitText() {
    const v = app.view;
    const text = ui.text.value.trimEnd();
    if (!v || !text.trim()) return;
    const bytes = byteLen(text);
    const max = app.limits.max_text;
    if (bytes > max) return toast(`Message too long (${bytes} of ${max} bytes).`);
    if (app.editing) return saveEdit(text);
    v.submit(text);
    ui.text.value = '';
    autoGrow();
}

// ---- editing and deleting one's messages ----

// The composer edits the message seq of room (its text in the box; the draft kept aside).
function startEdit(room, seq) {
    const text = room.textOf(seq);
    if (text == null || room !== app.view) return;
    if (!app.editing) room.draft = ui.text.value;
    stopEdit(true);
    app.editing = { room, seq, busy: false };
    room.editing = seq;
    room.seqs.get(seq).classList.add('editing');
    ui.editBar.hidden = false;
    ui.sendForm.classList.add('is-editing');
    ui.text.value = text;
    autoGrow();
    ui.text.focus();
    ui.text.setSelectionRange(text.length, text.length);
}

// Leaves editing; the draft written before comes back unless keepText.
function stopEdit(keepText) {
    const e = app.editing;
    if (!e) return;
    app.editing = null;
    e.room.editing = 0;
    const li = e.room.seqs.get(e.seq);
    if (li) li.classList.remove('editing');
    ui.editBar.hidden = true;
    ui.sendForm.classList.remove('is-editing');
    if (!keepText && app.view === e.room) {
        ui.text.value = e.room.draft;
        e.room.draft = '';
        autoGrow();
    }
}

async function saveEdit(text) {
    const e = app.editing;
    if (e.busy) return;
    if (text === e.room.textOf(e.seq)) return stopEdit();
    e.busy = true;
    try {
        await e.room.edit(e.seq, text);
    } catch (err) {
        e.busy = false;
        return toast(app.errorText(err, 'edit'));
    }
    if (app.editing === e) stopEdit();
}

let deleting = null; // {room, seq} the delete dialog asks about

function confirmDelete(room, seq) {
    const text = room.textOf(seq);
    if (text == null) return;
    deleting = { room, seq };
    ui.deleteText.textContent = text;
    ui.deleteError.hidden = true;
    ui.deleteConfirm.disabled = false;
    ui.deleteDialog.showModal();
    ui.deleteConfirm.focus();
}

async function doDelete() {
    const d = deleting;
    if (!d) return;
    ui.deleteConfirm.disabled = true;
    try {
        await d.room.remove(d.seq);
    } catch (e) {
        ui.deleteConfirm.disabled = false;
        ui.deleteError.textContent = app.errorText(e, 'delete');
        ui.deleteError.hidden = false;
        return;
    }
    deleting = null;
    ui.deleteDialog.close();
    if (app.editing && app.editing.room === d.room && app.editing.seq === d.seq) stopEdit();
    ui.text.focus();
}

function cycleView(step) {
    const all = [...app.rooms.values(), ...[...app.dms.values()].sort((a, b) => b.lastTs - a.lastTs)];
    if (!all.length) return;
    const i = all.indexOf(app.view);
    show(all[(i + step + all.length) % all.length], true);
}

function init() {
    for (const e of document.querySelectorAll('[id]')) {
        ui[e.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = e;
    }
    app.conn = new Conn({
        open: onOpen,
        event: onEvent,
        status: setStatus,
        notice: toast,
        closed() {
            for (const r of app.rooms.values()) r.closed();
            if (app.pendingAuth) {
                app.pendingAuth = null;
                app.conn.stop();
                authError('Could not reach the server: try again.');
            }
        },
    });

    ui.accountForm.addEventListener('submit', onAccountSubmit);
    ui.guestForm.addEventListener('submit', onGuestSubmit);
    ui.sendForm.addEventListener('submit', (e) => { e.preventDefault(); submitText(); ui.text.focus(); });
    ui.text.addEventListener('keydown', (e) => {
        const v = app.view;
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            submitText();
        } else if (e.key === 'Escape' && app.editing) {
            e.preventDefault();
            e.stopPropagation();
            stopEdit();
        } else if (e.key === 'ArrowUp' && !e.altKey && !e.shiftKey && !ui.text.value &&
                   !app.editing && v instanceof Room && v.lastOwn()) {
            e.preventDefault();
            startEdit(v, v.lastOwn());
        }
    });
    ui.editCancel.addEventListener('click', () => { stopEdit(); ui.text.focus(); });
    ui.editDelete.addEventListener('click', () => {
        if (app.editing) confirmDelete(app.editing.room, app.editing.seq);
    });
    ui.deleteConfirm.addEventListener('click', doDelete);
    ui.deleteDialog.addEventListener('close', () => { deleting = null; });
    ui.directoryFilter.addEventListener('input', () => {
        clearTimeout(app.dir.timer);
        app.dir.timer = setTimeout(() => loadDirectory(ui.directoryFilter.value.trim(), null), 250);
    });
    ui.directoryMore.addEventListener('click', () => {
        // A filter typed since the list was drawn comes first: More would page the old one,
        // and the filter's own load, when its timer fires, would then replace both pages.
        clearTimeout(app.dir.timer);
        const prefix = ui.directoryFilter.value.trim();
        if (prefix !== app.dir.prefix) loadDirectory(prefix, null);
        else loadDirectory(app.dir.prefix, app.dir.next);
    });
    ui.text.addEventListener('input', () => {
        autoGrow();
        if (app.view instanceof Room && !app.editing) app.view.composerInput(ui.text.value);
    });
    ui.scroller.addEventListener('scroll', () => {
        if (app.view instanceof Room && ui.scroller.scrollTop < 100) app.view.loadOlder();
    }, { passive: true });
    ui.retry.addEventListener('click', () => app.conn.retryNow());
    ui.skip.addEventListener('click', (e) => {
        e.preventDefault(); // no #text in the address
        ui.text.focus();
    });
    ui.alertClose.addEventListener('click', () => { ui.alert.hidden = true; ui.text.focus(); });
    ui.openJoin.addEventListener('click', openJoinDialog);
    ui.emptyJoin.addEventListener('click', openJoinDialog);
    ui.joinForm.addEventListener('submit', (e) => {
        e.preventDefault();
        dialogJoin(ui.joinRoom.value.trim());
    });
    ui.createForm.addEventListener('submit', (e) => {
        e.preventDefault();
        dialogJoin(ui.createRoom.value.trim(), true);
    });
    ui.openDm.addEventListener('click', () => {
        ui.dmError.hidden = true;
        ui.dmDialog.showModal();
    });
    ui.dmForm.addEventListener('submit', (e) => {
        e.preventDefault();
        const to = ui.dmTo.value.trim();
        if (!validName(to, 80)) {
            ui.dmError.textContent = ERRORS.user_name_invalid;
            ui.dmError.hidden = false;
            return;
        }
        ui.dmTo.value = '';
        ui.dmDialog.close();
        openDm(to);
    });
    ui.leaveRoom.addEventListener('click', () => {
        if (app.view instanceof Room) removeRoom(app.view, true);
    });
    ui.roomSettings.addEventListener('click', () => {
        if (app.view instanceof Room) openSettings(app, app.view);
    });
    ui.membersToggle.addEventListener('click', toggleMembers);
    ui.sidebarToggle.addEventListener('click', () =>
        (ui.app.classList.contains('sidebar-open') ? closeSidebar(ui, true) : openSidebar(ui)));
    ui.scrim.addEventListener('click', () => closeSidebar(ui, true));
    ui.notifyToggle.addEventListener('click', async () => { await toggleNotify(); renderNotifyButton(); });
    ui.signout.addEventListener('click', () => {
        ui.signoutError.hidden = true;
        ui.signoutAll.hidden = !app.session || app.session.kind !== 'account';
        ui.signoutDialog.showModal();
    });
    ui.signoutHere.addEventListener('click', () => signOut(false));
    ui.signoutAll.addEventListener('click', () => signOut(true));
    for (const b of document.querySelectorAll('[data-close]')) {
        b.addEventListener('click', () => b.closest('dialog').close());
    }
    document.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && !document.querySelector('dialog[open]')) {
            if (ui.app.classList.contains('sidebar-open')) closeSidebar(ui, true);
            else if (ui.app.classList.contains('show-members')) toggleMembers();
        } else if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && !ui.app.hidden) {
            e.preventDefault();
            cycleView(e.key === 'ArrowUp' ? -1 : 1);
        }
    });
    // Back to the page (its tab shown, its window focused): what is shown is read now.
    const back = () => {
        const v = app.view;
        if (!v || !app.isRead(v)) return;
        if (v instanceof Room && v.unread) v.placeMarker();
        v.markRead();
    };
    document.addEventListener('visibilitychange', back);
    window.addEventListener('focus', back);
    window.addEventListener('pagehide', saveNow);

    const link = new URLSearchParams(location.search).get('room');
    if (link && validName(link, 64)) app.linkRoom = link;

    const s = store.getJSON('session');
    if (s && ((s.kind === 'account' && typeof s.token === 'string') || s.kind === 'guest')) {
        app.session = s;
        if (s.user && typeof s.user.id === 'string') {
            // Show what this browser kept while the connection comes up.
            loadState(app, s.user.id);
            app.me = s.user;
            showApp();
            show(initialView());
        }
        app.conn.start();
    } else {
        showAuth('');
    }
}

init();
