// What this browser keeps of an account (or a guest), in localStorage under its user id: the
// rooms with their epoch and last seq seen (the unread counts), the rooms it has been in, the
// direct-message conversations and the dm ids shown. The server keeps none of it.
import { store } from './util.js';
import { Room } from './room.js';
import { Dm } from './dm.js';

const KNOWN_MAX = 50;   // rooms remembered for the join dialog
const MIDS_MAX = 500;   // dm ids remembered, so that a message delivered again is shown once
const DMS_MAX = 50;     // conversations kept (the most recent)

// Everything read is checked: localStorage is anybody's who had this browser.
export function loadState(app, userId) {
    const s = store.getJSON('acct.' + userId) || {};
    const list = (x) => (Array.isArray(x) ? x : []);
    app.stateOf = userId;
    app.rooms = new Map();
    for (const r of list(s.rooms)) {
        if (r && typeof r.name === 'string' && !app.rooms.has(r.name)) {
            app.rooms.set(r.name, new Room(app, r.name, r));
        }
    }
    app.known = list(s.known).filter((n) => typeof n === 'string');
    app.dms = new Map();
    for (const d of list(s.dms)) {
        if (d && typeof d.id === 'string' && !app.dms.has(d.id)) {
            app.dms.set(d.id, new Dm(app, d.id, d.name, d));
        }
    }
    app.mids = new Set(list(s.mids).filter((m) => typeof m === 'string'));
    app.started = !!s.started;
    app.lastView = s.view;
}

export function saveState(app) {
    if (!app.stateOf) return;
    store.setJSON('acct.' + app.stateOf, {
        rooms: [...app.rooms.values()].map((r) => r.saved()),
        known: app.known.slice(-KNOWN_MAX),
        dms: [...app.dms.values()].sort((a, b) => b.lastTs - a.lastTs).slice(0, DMS_MAX)
            .map((d) => d.saved()),
        mids: [...app.mids].slice(-MIDS_MAX),
        started: app.started,
        view: app.view ? app.view.key : null,
    });
}

export function forgetState(userId) {
    store.del('acct.' + userId);
}
