// What this browser keeps of an account (or a guest), in localStorage under its user id: the
// rooms with their epoch and read marker (an account's is a copy of the server's; a guest's is
// only here) and the rooms it has been in (confab.acct.<id>); the direct-message conversations
// and the dm ids shown (confab.dms.<id>, apart, so that anybody's flood of long messages can
// crowd out conversations but never the rooms).
import { store } from './util.js';
import { Room } from './room.js';
import { Dm } from './dm.js';

const KNOWN_MAX = 50;   // rooms remembered for the join dialog
const MIDS_MAX = 500;   // dm ids remembered, so that a message delivered again is shown once
const DMS_MAX = 50;     // conversations kept (the most recent)

// Everything read is checked: localStorage is anybody's who had this browser.
export function loadState(app, userId) {
    const s = { ...store.getJSON('dms.' + userId), ...store.getJSON('acct.' + userId) };
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
        started: app.started,
        view: app.view ? app.view.key : null,
    });
    let dms = [...app.dms.values()].sort((a, b) => b.lastTs - a.lastTs).slice(0, DMS_MAX)
        .map((d) => d.saved());
    const mids = [...app.mids].slice(-MIDS_MAX);
    // Over the browser's quota: fewer conversations (the oldest go) rather than none.
    while (!store.setJSON('dms.' + app.stateOf, { dms, mids }) && dms.length) {
        dms = dms.slice(0, Math.floor(dms.length / 2));
    }
}

export function forgetState(userId) {
    store.del('acct.' + userId);
    store.del('dms.' + userId);
}
