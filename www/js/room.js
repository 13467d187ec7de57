// One joined room: its messages in seq order (docs/protocol.md: join with since/epoch to
// resume, gap, history to scroll back), edits and deletions applied to them, the messages
// being sent (nonce, resent after a reconnect), the read marker (an account's is the server's,
// shared by its sessions) and the unread count after it, read receipts, members and typing.
import { el, button, messageEl, timeEl, keepScroll, keepAnchor, randomNonce } from './util.js';

const CONTEXT = 20;        // messages a room shows at least when it opens
const PAGE = 50;           // messages per scroll-back page
const MAX_RENDERED = 2000; // older ones are dropped while the user reads at the bottom

export class Room {
    // saved: what the account state kept of it ({epoch, readSeq}), or null.
    constructor(app, name, saved) {
        this.app = app;
        this.name = name;
        const int = (x) => (Number.isSafeInteger(x) && x >= 0 ? x : null);
        this.epoch = saved ? int(saved.epoch) : null;
        this.readSeq = (this.epoch != null && int(saved.readSeq)) || 0; // the read marker
        this.serverRead = 0;  // the marker the server is known to hold (accounts)
        this.readBusy = false; // a read command is in flight
        this.fresh = false;   // joined for the first time in this browser, marker not synced yet
        this.lastSeq = 0;     // every event up to it has arrived (or is older than the view)
        this.firstSeq = 0;    // the oldest event loaded (0: none)
        this.seqs = new Map(); // seq -> li of a message, in this.epoch
        this.deleted = new Set(); // seqs of messages deleted (a page in flight may bring them)
        this.receipts = new Map(); // user id -> {user, seq}: how far other members have read
        this.editing = 0;     // the seq of the own message the composer edits (0: none)
        this.loaded = false;   // a join reply came during this page's life
        this.joined = false;
        this.joining = false;
        this.unread = 0;
        this.pending = new Map(); // nonce -> {text, li, label, seq, timer}
        this.members = new Map();
        this.info = null;         // the `room` reply
        this.typing = new Map();  // user id -> {user, timer}
        this.typingSentAt = 0;    // when this client last said typing:true (0: not typing)
        this.older = null;        // the scroll-back request in flight
        this.atStart = false;
        this.scrollTop = null;    // where the user left the view (null: the bottom)
        this.draft = '';
        this.marker = null;       // the "new messages" line
        this.holdRead = false;    // count messages as unread even while the room is shown
        this.list = el('ol', 'messages');
        this.list.setAttribute('role', 'log');
        this.list.setAttribute('aria-live', 'off'); // new messages are read out by app.js's announcer
        this.list.setAttribute('aria-label', `Messages in ${name}`);
        this.seenEl = el('p', 'seen');
        this.seenEl.hidden = true;
        this.pendingList = el('ol', 'messages pending-list');
        this.pendingList.setAttribute('aria-label', 'Messages being sent');
    }

    get key() { return 'room:' + this.name; }
    get title() { return '#' + this.name; }
    get current() { return this.app.view === this; }
    get role() { return (this.info && this.info.role) || 'none'; }
    get moderating() { return this.role === 'owner' || this.role === 'moderator'; }
    get nodes() { return [this.list, this.seenEl, this.pendingList]; }

    saved() { return { name: this.name, epoch: this.epoch, readSeq: this.readSeq }; }

    // ---- joining and resuming ----

    async join() {
        const conn = this.app.conn;
        if (this.joined || this.joining || !conn.open) return;
        const req = { op: 'join', room: this.name };
        if (this.epoch != null) {
            // After a reconnect: everything after the last message received. On a fresh page:
            // everything after the last one the user saw, so that the unread count is exact.
            req.since = this.loaded ? this.lastSeq : this.readSeq;
            req.epoch = this.epoch;
        }
        this.joining = true;
        let o;
        try {
            o = await conn.request(req);
        } catch (e) {
            this.joining = false;
            return this.app.joinFailed(this, e);
        }
        this.joining = false;
        this.onJoined(o);
    }

    onJoined(o) {
        const restarted = this.epoch != null && o.epoch !== this.epoch;
        const wasLoaded = this.loaded;
        // A room the user had never joined: what it said before is not news (unless the
        // account's marker, from another browser, says otherwise: syncMarkers).
        if (this.epoch == null) {
            this.readSeq = o.seq || 0;
            this.fresh = true;
        }
        if (restarted) {
            // The room was forgotten and started again at seq 1 (a standalone restart, an
            // expired room): the seqs shown mean nothing any more, and neither does readSeq.
            this.voidAfter(0);
            this.readSeq = 0;
            this.unread = 0;
            this.receipts.clear();
        }
        if (wasLoaded && restarted) {
            this.notice('The room restarted on the server: earlier messages may be missing.');
        }
        else if (wasLoaded && o.gap) this.notice('Some messages were missed.');
        this.epoch = o.epoch;
        this.loaded = true;
        // Opening the page in this room: count what is new, to mark where it starts.
        this.holdRead = !wasLoaded;
        const add = () => this.addAll(o.history);
        this.current ? keepScroll(this.app.ui.scroller, add) : add();
        this.holdRead = false;
        this.lastSeq = Math.max(this.lastSeq, o.seq || 0);
        this.members = new Map((o.members || []).map((u) => [u.id, u]));
        this.joined = true;
        if (this.app.isRead(this)) {
            if (!wasLoaded) this.placeMarker();
            if (this.marker) this.app.ui.scroller.scrollTop = this.marker.offsetTop - 40;
            this.markRead();
        }
        this.app.roomChanged(this);
        this.app.roomInfoChanged(this);
        if (!wasLoaded && this.seqs.size < CONTEXT) this.loadOlder(CONTEXT - this.seqs.size);
        else if (this.current) this.app.fillView();
        this.fetchInfo();
        this.resendPending();
        this.app.syncMarkers();
    }

    addAll(msgs) {
        for (const m of msgs || []) this.addEvent(m, false);
    }

    // A msg, edit or delete event, live or from the history.
    addEvent(m, live) {
        if (typeof m.seq !== 'number') return;
        if (m.ev === 'edit') this.onEdit(m);
        else if (m.ev === 'delete') this.onDelete(m);
        else return this.addMsg(m, live);
        if (!this.firstSeq || m.seq < this.firstSeq) this.firstSeq = m.seq;
        this.advance(m.seq);
    }

    // The connection is gone: the room must be joined again, and who is typing is unknown.
    closed() {
        this.joined = false;
        this.joining = false;
        this.older = null;
        this.typingSentAt = 0;
        for (const t of this.typing.values()) clearTimeout(t.timer);
        this.typing.clear();
        for (const p of this.pending.values()) {
            if (p.seq == null) { clearTimeout(p.timer); p.label.textContent = 'waiting for connection…'; }
        }
        if (this.current) this.app.renderTyping();
    }

    // Forgets the seqs after `seq` (a gap, a restarted room): the messages that reuse them are
    // shown, the old ones stay on screen without a seq.
    voidAfter(seq) {
        for (const [s, li] of this.seqs) {
            if (s > seq) { li.removeAttribute('data-seq'); this.seqs.delete(s); }
        }
        this.lastSeq = Math.min(this.lastSeq, seq);
        if (this.firstSeq > seq) this.firstSeq = 0;
        this.older = null;
        this.settlePending(true);
    }

    // The gap event (cluster mode): the history after ev.seq is void; ev.epoch from now on.
    onGap(ev) {
        this.voidAfter(ev.seq);
        this.readSeq = Math.min(this.readSeq, ev.seq);
        this.unread = Math.max(0, this.lastSeq - this.readSeq);
        this.epoch = ev.epoch;
        this.notice('Some messages were missed.');
        this.app.roomChanged(this);
    }

    async fetchInfo() {
        try {
            this.info = await this.app.conn.request({ op: 'room', room: this.name });
        } catch {
            return; // forbidden, offline: the header shows what it knows
        }
        this.list.classList.toggle('moderating', this.moderating);
        this.app.roomInfoChanged(this);
    }

    // ---- messages ----

    // Adds a msg event (live: it arrived as an event, not from the history).
    addMsg(m, live) {
        if (this.seqs.has(m.seq) || this.deleted.has(m.seq)) return;
        const app = this.app;
        const from = m.from || { id: '?', name: '?' };
        const own = !!app.me && from.id === app.me.id;
        const text = String(m.text ?? '');
        const li = messageEl(from, text, timeEl(m.ts), own);
        li.dataset.seq = String(m.seq);
        li.from = from;
        if (m.edited) markEdited(li, m.edited);
        li.ts = m.ts;
        li.lastElementChild.append(this.actions(li, own));
        const mention = !own && app.mentions(text);
        if (mention) li.classList.add('mention');
        this.insert(li, m.seq);
        this.seqs.set(m.seq, li);
        if (!this.firstSeq || m.seq < this.firstSeq) this.firstSeq = m.seq;
        this.advance(m.seq);
        this.settlePending();
        if (this.typing.has(from.id)) this.dropTyping(from.id);
        this.renderSeen();
        if (live && !own) app.messageArrived(this, from, text, mention);
    }

    // An event with this seq arrived: the unread count is the events after the marker, as the
    // server counts it (unread: seq - read).
    advance(seq) {
        this.lastSeq = Math.max(this.lastSeq, seq);
        if (seq <= this.readSeq) return;
        if (this.app.isRead(this)) return this.markRead();
        this.unread = this.lastSeq - this.readSeq;
        this.app.roomChanged(this);
    }

    // A message's controls: edit (the author's), delete (the author's; a moderator's on any,
    // shown while the list has the class `moderating`). Guests correct nothing.
    actions(li, own) {
        const box = el('div', 'msg-actions');
        if (!this.app.accounts) return box;
        const name = own ? 'your message' : `${li.from.name}'s message`;
        const seq = () => Number(li.dataset.seq); // NaN once voided: the app then does nothing
        if (own) {
            box.append(button('link edit', 'Edit', () => this.app.startEdit(this, seq()), 'Edit ' + name));
        }
        const del = button('link delete', 'Delete', () => this.app.confirmDelete(this, seq()),
            'Delete ' + name);
        if (!own) del.classList.add('mod-only');
        box.append(del);
        return box;
    }

    // ---- edits and deletions ----

    onEdit(ev) {
        const li = this.seqs.get(ev.ref);
        if (!li) return; // not held: a page loaded later brings the latest text
        li.querySelector('.text').textContent = String(ev.text ?? '');
        markEdited(li, ev.ts);
    }

    onDelete(ev) {
        this.deleted.add(ev.ref);
        const li = this.seqs.get(ev.ref);
        if (!li) return;
        if (this.editing === ev.ref) this.app.stopEdit();
        this.seqs.delete(ev.ref);
        if (this.marker && this.marker.nextElementSibling === li && !li.nextElementSibling) {
            this.removeMarker();
        }
        const gone = () => li.remove();
        this.current ? keepScroll(this.app.ui.scroller, gone) : gone();
        this.renderSeen();
    }

    // The last message the user wrote that is still held and may be edited (Up arrow in an
    // empty composer): an account's, within hello's limits.edit_window.
    lastOwn() {
        const me = this.app.me && this.app.me.id;
        if (!this.app.accounts) return 0;
        const window = this.app.limits.edit_window;
        const since = Number.isFinite(window) ? Date.now() - window * 1000 : -Infinity;
        let best = 0;
        for (const [seq, li] of this.seqs) {
            if (li.from.id === me && seq > best && !(li.ts < since)) best = seq;
        }
        return best;
    }

    textOf(seq) {
        const li = this.seqs.get(seq);
        return li ? li.querySelector('.text').textContent : null;
    }

    async edit(seq, text) {
        await this.app.conn.request({ op: 'edit', room: this.name, seq, text });
    }

    async remove(seq) {
        await this.app.conn.request({ op: 'delete', room: this.name, seq });
    }

    insert(li, seq) {
        if (seq > this.lastSeq) {
            this.list.append(li);
            this.trim();
            return;
        }
        for (const other of this.list.querySelectorAll('[data-seq]')) {
            if (Number(other.dataset.seq) > seq) return other.before(li);
        }
        this.list.append(li);
    }

    // Keeps the list bounded while the user reads at the bottom; scrolling back loads again.
    trim() {
        if (this.list.children.length <= MAX_RENDERED || this.older) return;
        const s = this.app.ui.scroller;
        if (this.current && s.scrollTop < s.scrollHeight / 2) return;
        while (this.list.children.length > MAX_RENDERED) {
            const first = this.list.firstElementChild;
            if (first.dataset.seq) this.seqs.delete(Number(first.dataset.seq));
            if (first === this.marker) this.marker = null;
            first.remove();
        }
        const top = this.list.querySelector('[data-seq]');
        this.firstSeq = top ? Number(top.dataset.seq) : 0;
        this.atStart = false;
    }

    notice(text) {
        const li = el('li', 'notice', text);
        this.current ? keepScroll(this.app.ui.scroller, () => this.list.append(li)) : this.list.append(li);
    }

    // Loads the page of history before the oldest message shown (scrolling to the top).
    async loadOlder(limit = PAGE) {
        if (this.older || this.atStart || !this.joined) return;
        const before = this.firstSeq || this.lastSeq + 1;
        if (before <= 1) return this.reachedStart();
        limit = Math.max(1, Math.min(limit, this.app.limits.history || PAGE));
        const loading = el('li', 'notice loading', 'Loading earlier messages…');
        this.list.prepend(loading);
        const req = this.older = this.app.conn.request({ op: 'history', room: this.name, before, limit });
        let o = null;
        try { o = await req; } catch { /* disconnected: scrolling up again retries */ }
        loading.remove();
        if (this.older !== req) return; // the seqs were voided meanwhile
        this.older = null;
        if (!o) return;
        const msgs = o.messages || [];
        const add = () => this.addAll(msgs);
        this.current ? keepAnchor(this.app.ui.scroller, add) : add();
        // Fewer than asked for: the room's history holds nothing older.
        if (msgs.length < limit) this.reachedStart();
        if (this.current) this.app.fillView();
    }

    reachedStart() {
        if (this.atStart) return;
        this.atStart = true;
        const text = this.firstSeq === 1 || (!this.firstSeq && this.lastSeq === 0)
            ? `This is the beginning of ${this.name}.`
            : 'Earlier messages are no longer kept.';
        const li = el('li', 'notice start', text);
        this.current ? keepAnchor(this.app.ui.scroller, () => this.list.prepend(li)) : this.list.prepend(li);
    }

    // ---- unread and the read marker ----

    // The user has seen everything up to lastSeq (the room is shown, the window has the focus).
    markRead() {
        const changed = this.readSeq < this.lastSeq || this.unread;
        this.readSeq = Math.max(this.readSeq, this.lastSeq);
        this.unread = 0;
        this.sendRead();
        if (changed) this.app.roomChanged(this);
    }

    // Moves the account's marker on the server up to readSeq: one read command at a time, the
    // next with the highest seq read meanwhile. Guests have no marker on the server.
    async sendRead() {
        if (!this.app.accounts || !this.joined || this.readBusy || this.fresh) return;
        const seq = this.readSeq;
        if (seq <= this.serverRead) return;
        this.readBusy = true;
        try {
            const o = await this.app.conn.request({ op: 'read', room: this.name, seq });
            this.serverRead = Math.max(this.serverRead, Number.isSafeInteger(o.seq) ? o.seq : seq);
        } catch {
            return; // offline, not joined: the next join syncs the marker again
        } finally {
            this.readBusy = false;
        }
        if (this.readSeq > this.serverRead) this.sendRead();
    }

    // The account's marker as the server holds it (an `unread` or `rooms` row, a read event
    // from any of the account's sessions).
    onMarker(read) {
        if (!Number.isSafeInteger(read) || read < 0) return;
        // First join in this browser: the marker of another browser wins over "all read".
        if (this.fresh && read > 0) this.readSeq = read;
        this.fresh = false;
        this.serverRead = Math.max(this.serverRead, read);
        this.readSeq = Math.max(this.readSeq, read);
        const unread = Math.max(0, this.lastSeq - this.readSeq);
        if (unread && this.app.isRead(this)) return this.markRead();
        if (unread !== this.unread) {
            this.unread = unread;
            if (!unread) this.removeMarker();
            this.app.roomChanged(this);
        }
        this.sendRead(); // this browser read more while the server did not hear of it
    }

    // A read receipt: another member has read up to ev.seq (rooms of up to read_show_max).
    onReceipt(ev) {
        const u = ev.user;
        if (!u || typeof u.id !== 'string' || !Number.isSafeInteger(ev.seq)) return;
        const old = this.receipts.get(u.id);
        if (old && old.seq >= ev.seq) return;
        this.receipts.set(u.id, { user: u, seq: ev.seq });
        this.renderSeen();
    }

    // "Seen by bob" under the last message: the members whose receipts reach it.
    renderSeen() {
        let last = this.list.lastElementChild;
        while (last && !(last.classList.contains('msg') && last.dataset.seq)) {
            last = last.previousElementSibling;
        }
        const seq = last ? Number(last.dataset.seq) : 0;
        const me = this.app.me && this.app.me.id;
        const names = [...this.receipts.values()]
            .filter((r) => seq && r.seq >= seq && r.user.id !== me && r.user.id !== last.from.id)
            .map((r) => String(r.user.name)).sort();
        const list = names.length <= 3 ? names : [...names.slice(0, 2), `${names.length - 2} others`];
        const text = !list.length ? ''
            : `Seen by ${list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`}`;
        if (this.seenEl.textContent === text) return;
        const show = () => {
            this.seenEl.textContent = text;
            this.seenEl.hidden = !text;
        };
        this.current ? keepScroll(this.app.ui.scroller, show) : show();
    }

    // Shown on opening the room: a line above the first message the user has not seen.
    placeMarker() {
        this.removeMarker();
        if (!this.unread) return;
        const first = [...this.seqs.keys()].filter((s) => s > this.readSeq).sort((a, b) => a - b)[0];
        // Only the user's own messages after the marker: nothing new to point at.
        if (first != null && [...this.seqs].every(([s, li]) => s <= this.readSeq ||
            (this.app.me && li.from.id === this.app.me.id))) return;
        if (first == null) return;
        this.marker = el('li', 'unread-marker', 'New messages');
        this.seqs.get(first).before(this.marker);
    }

    removeMarker() {
        if (this.marker) this.marker.remove();
        this.marker = null;
    }

    // ---- sending ----

    submit(text) {
        const app = this.app;
        const nonce = randomNonce();
        const label = el('span', 'time', this.joined ? 'sending…' : 'waiting for connection…');
        const li = messageEl(app.me, text, label, true);
        li.classList.add('pending');
        this.pending.set(nonce, { text, li, label, seq: null, timer: 0 });
        keepScroll(app.ui.scroller, () => this.pendingList.append(li), true);
        this.typingSentAt = 0; // a message ends the typing indicator by itself
        this.sendPending(nonce);
    }

    async sendPending(nonce) {
        const p = this.pending.get(nonce);
        if (!p || p.seq != null || p.busy || !this.joined) return;
        clearTimeout(p.timer);
        p.busy = true;
        p.label.textContent = 'sending…';
        try {
            const o = await this.app.conn.request({ op: 'send', room: this.name, text: p.text, nonce });
            if (this.pending.get(nonce) !== p) return;
            p.seq = o.seq;
            p.label.textContent = 'sent';
            this.settlePending();
            // Writing in the room is reading it (the server counts the sender's messages too).
            if (this.app.isRead(this)) this.markRead();
        } catch (e) {
            if (this.pending.get(nonce) !== p) return;
            if (e.code === 'disconnected' || e.code === 'not_joined') {
                p.label.textContent = 'waiting for connection…'; // sent again after the next join
            } else if (e.code === 'rate_limited' || e.code === 'unavailable') {
                p.label.textContent = 'retrying…';
                p.timer = setTimeout(() => this.sendPending(nonce), 1000 + Math.random() * 1000);
            } else {
                this.failPending(nonce, this.app.errorText(e));
            }
        } finally {
            p.busy = false;
        }
    }

    // Sends what is unacknowledged again (same nonce: never twice), paced to the send bucket.
    resendPending() {
        const { rate = 10, burst = 20 } = this.app.limits;
        let n = 0;
        for (const [nonce, p] of this.pending) {
            if (p.seq != null || p.busy) continue;
            const wait = Math.max(0, n++ - burst + 2) * 1000 / rate;
            clearTimeout(p.timer);
            if (wait) p.timer = setTimeout(() => this.sendPending(nonce), wait);
            else this.sendPending(nonce);
        }
    }

    // A pending send is done once its seq is known and its msg event is shown (the bubble goes),
    // or the event can no longer come (the bubble stays, as sent).
    settlePending(epochChanged) {
        for (const [nonce, p] of this.pending) {
            if (p.seq == null) continue;
            if (!epochChanged && this.seqs.has(p.seq)) {
                p.li.remove();
            } else if (epochChanged || p.seq <= this.lastSeq) {
                p.li.classList.remove('pending');
                p.label.replaceWith(timeEl(Date.now()));
            } else {
                continue;
            }
            clearTimeout(p.timer);
            this.pending.delete(nonce);
        }
    }

    failPending(nonce, why) {
        const p = this.pending.get(nonce);
        if (!p) return;
        this.pending.delete(nonce);
        clearTimeout(p.timer);
        p.li.classList.remove('pending');
        p.li.classList.add('failed');
        p.label.textContent = 'not sent: ' + why;
        const dismiss = el('button', 'link', 'Dismiss');
        dismiss.type = 'button';
        dismiss.addEventListener('click', () => { p.li.remove(); this.app.ui.text.focus(); });
        p.label.after(' ', dismiss);
    }

    // ---- typing ----

    // The composer's text changed: typing:true when it starts and every typing_ttl/2 while it
    // goes on, typing:false when the text is cleared without sending.
    composerInput(text) {
        if (!this.joined) return;
        const now = Date.now();
        const ttl = this.app.limits.typing_ttl || 6000;
        if (text.trim()) {
            if (!this.typingSentAt || now - this.typingSentAt >= ttl / 2) {
                this.typingSentAt = now;
                this.app.conn.send({ op: 'typing', room: this.name, typing: true });
            }
        } else if (this.typingSentAt) {
            this.stopTyping();
        }
    }

    stopTyping() {
        if (!this.typingSentAt) return;
        this.typingSentAt = 0;
        if (this.joined) this.app.conn.send({ op: 'typing', room: this.name, typing: false });
    }

    onTyping(ev) {
        const u = ev.user;
        if (!u || (this.app.me && u.id === this.app.me.id)) return;
        if (ev.typing === false) return this.dropTyping(u.id);
        const ttl = ev.ttl > 0 ? ev.ttl : (this.app.limits.typing_ttl || 6000);
        const old = this.typing.get(u.id);
        if (old) clearTimeout(old.timer);
        this.typing.set(u.id, { user: u, timer: setTimeout(() => this.dropTyping(u.id), ttl) });
        if (this.current) this.app.renderTyping();
    }

    dropTyping(id) {
        const t = this.typing.get(id);
        if (!t) return;
        clearTimeout(t.timer);
        this.typing.delete(id);
        if (this.current) this.app.renderTyping();
    }

    typingText() {
        const names = [...this.typing.values()].map((t) => t.user.name).sort();
        if (!names.length) return '';
        if (names.length === 1) return `${names[0]} is typing…`;
        if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
        return 'Several people are typing…';
    }

    // ---- presence ----

    onPresence(ev) {
        if (!ev.user) return;
        if (ev.ev === 'join') this.members.set(ev.user.id, ev.user);
        else {
            this.members.delete(ev.user.id);
            this.dropTyping(ev.user.id);
            if (this.receipts.delete(ev.user.id)) this.renderSeen();
        }
        if (this.current) this.app.renderMembers();
    }

    // The room is no longer the user's (left, kicked): stop its timers.
    dispose() {
        for (const t of this.typing.values()) clearTimeout(t.timer);
        for (const p of this.pending.values()) clearTimeout(p.timer);
        this.typing.clear();
        this.pending.clear();
    }
}

// "(edited)" in a message's meta line, its title the time of the latest edit.
function markEdited(li, ts) {
    let e = li.querySelector('.edited');
    if (!e) {
        e = el('span', 'edited', '(edited)');
        li.querySelector('.meta').append(e);
    }
    if (Number.isFinite(ts)) e.title = 'Edited ' + new Date(ts).toLocaleString();
}
