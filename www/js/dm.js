// Direct messages: one conversation per other user, kept in this browser (the server keeps
// no DM history, only an account's offline inbox until it is delivered). Kept messages arrive
// as dm events with queued:true after hello; every event with a mid is shown once.
import { el, button, messageEl, timeEl, keepScroll } from './util.js';

const KEEP = 100; // messages kept per conversation

// A user id as the server writes it: `account:bob` is the account bob.
export const normalId = (id) => (id.startsWith('account:') ? id.slice(8) : id);

// A message read back from localStorage has the shape add() takes.
const validSaved = (m) => m && typeof m.text === 'string' && typeof m.ts === 'number' &&
    m.from && typeof m.from.id === 'string' && typeof m.from.name === 'string';

export class Dm {
    // saved: {id, name, unread, msgs: [{from, ts, text, own, status}]} or null.
    constructor(app, id, name, saved) {
        this.app = app;
        this.id = id;
        this.name = (saved && typeof saved.name === 'string' && saved.name) || name || id;
        this.unread = (saved && saved.unread > 0 && Math.floor(saved.unread)) || 0;
        this.msgs = [];
        this.lastTs = (saved && saved.lastTs > 0 && saved.lastTs) || 0;
        this.draft = '';
        this.scrollTop = null;
        this.list = el('ol', 'messages');
        this.list.setAttribute('role', 'log');
        this.list.setAttribute('aria-live', 'off');
        this.list.setAttribute('aria-label', `Direct messages with ${this.name}`);
        this.pendingList = el('ol', 'messages pending-list');
        const msgs = saved && Array.isArray(saved.msgs) ? saved.msgs : [];
        for (const m of msgs.filter(validSaved)) this.add(m);
    }

    get key() { return 'dm:' + this.id; }
    get title() { return this.name; }
    get current() { return this.app.view === this; }

    saved() {
        // Sends that never left this page are not kept.
        const msgs = this.msgs.filter((m) => m.status !== 'waiting' && m.status !== 'sending');
        return { id: this.id, name: this.name, unread: this.unread, lastTs: this.lastTs,
            msgs: msgs.slice(-KEEP).map(({ from, ts, text, own, status, queued }) =>
                ({ from, ts, text, own, status, queued })) };
    }

    // Appends a message ({from, ts, text, own, status, queued}) and its list item.
    add(m) {
        const label = m.own ? this.statusEl(m) : timeEl(m.ts);
        const li = messageEl(m.from, m.text, label, m.own);
        if (m.queued) li.querySelector('.meta').append(el('span', 'kept', 'kept while you were away'));
        m.li = li;
        m.label = label;
        this.msgs.push(m);
        if (this.msgs.length > KEEP * 2) {
            for (const old of this.msgs.splice(0, this.msgs.length - KEEP)) old.li.remove();
        }
        this.lastTs = Math.max(this.lastTs, m.ts || 0);
        const put = () => this.list.append(li);
        this.current ? keepScroll(this.app.ui.scroller, put, m.own) : put();
        return m;
    }

    statusEl(m) {
        if (m.status === 'queued') return el('span', 'time', `kept until ${this.name} is back`);
        if (m.status === 'waiting') return el('span', 'time', 'waiting for connection…');
        if (m.status === 'sending') return el('span', 'time', 'sending…');
        if (m.status === 'failed') return el('span', 'time failed-label', 'not sent');
        return timeEl(m.ts);
    }

    setStatus(m, status, why) {
        m.status = status;
        const label = this.statusEl(m);
        m.label.replaceWith(label);
        m.label = label;
        m.li.classList.toggle('failed', status === 'failed');
        m.li.classList.toggle('pending', status === 'sending' || status === 'waiting');
        if (status === 'failed') {
            label.textContent = 'not sent: ' + why;
            const retry = button('link', 'Retry', () => {
                retry.remove();
                this.send(m);
            });
            label.after(' ', retry);
        }
        this.app.dmChanged(this);
    }

    // An incoming dm event.
    receive(ev) {
        if (ev.from && ev.from.name) this.name = ev.from.name;
        this.add({ from: ev.from, ts: ev.ts || Date.now(), text: String(ev.text ?? ''), own: false,
            queued: !!ev.queued });
        if (!this.app.isRead(this)) this.unread++;
        this.app.dmChanged(this);
    }

    submit(text) {
        const m = this.add({ from: this.app.me, ts: Date.now(), text, own: true, status: 'waiting' });
        this.send(m);
    }

    async send(m) {
        if (!this.app.conn.open || !this.app.me) return this.setStatus(m, 'waiting');
        this.setStatus(m, 'sending');
        try {
            const o = await this.app.conn.request({ op: 'dm', to: this.id, text: m.text });
            m.ts = Date.now();
            this.setStatus(m, o.queued ? 'queued' : 'sent');
        } catch (e) {
            // A dm has no nonce: one the connection lost on the way may have arrived; the user
            // decides whether to send it again.
            this.setStatus(m, 'failed', e.code === 'disconnected'
                ? 'the connection was lost; it may have arrived' : this.app.errorText(e));
        }
    }

    // After hello: send what was written while offline.
    flush() {
        for (const m of this.msgs) if (m.status === 'waiting') this.send(m);
    }

    markRead() {
        if (!this.unread) return;
        this.unread = 0;
        this.app.dmChanged(this);
    }
}
