// Rooms with owners and rules (docs/protocol.md): the member list with roles, the actions a
// moderator or owner has on a member, the room's settings (topic, kind, members of a private
// room, bans and mutes), and the lines the rules events leave in a room.
import { $, el, button, avatar, untilText } from './util.js';

const RANK = { none: 0, member: 1, moderator: 2, owner: 3 };

// A ban or mute end (unix seconds; a huge one is forever) that has not passed.
const active = (until) => until > 0 && until * 1000 > Date.now();
const FOREVER = 4e9; // later than any end the dialogs set: shown as "for good"

// The role the room's staff list or (for moderators) its users map gives a user.
function roleOf(room, id) {
    const info = room.info;
    if (!info) return 'none';
    if (info.users && info.users[id] && info.users[id].role) return info.users[id].role;
    const s = (info.staff || []).find((x) => x.id === id);
    return s ? s.role : 'none';
}

// Whether the user (role `mine`) may act on a user whose role is `theirs`: only below its own.
const canModerate = (mine, theirs) => RANK[mine] >= RANK.moderator && RANK[theirs] < RANK[mine];

// The roles `mine` may give in a room of `kind` to a user below it.
function rolesToGive(mine, kind) {
    if (mine === 'owner') return ['owner', 'moderator', 'member', 'none'];
    if (mine === 'moderator' && kind === 'private') return ['member', 'none'];
    return [];
}

const ROLE_LABEL = {
    owner: 'Make owner', moderator: 'Make moderator', member: 'Make member', none: 'Remove role',
};

export function renderMembers(app, room) {
    const ui = app.ui;
    const list = [...room.members.values()].sort((a, b) =>
        RANK[roleOf(room, b.id)] - RANK[roleOf(room, a.id)] || String(a.name).localeCompare(String(b.name)));
    const mine = room.role;
    ui.memberList.replaceChildren(...list.map((u) => {
        const li = el('li', 'member');
        li.dataset.user = u.id;
        const role = roleOf(room, u.id);
        const name = el('span', 'member-name', u.name);
        name.title = u.id;
        li.append(avatar(u), name);
        if (role !== 'none') li.append(el('span', 'role role-' + role, role));
        if (app.me && u.id === app.me.id) {
            li.append(el('span', 'you', '(you)'));
        } else {
            const label = canModerate(mine, role) ? `Actions for ${u.name}` : `Message ${u.name}`;
            li.append(button('ghost small member-actions', canModerate(mine, role) ? '⋯' : '✉',
                () => openMember(app, room, u), label));
        }
        return li;
    }));
    ui.memberCount.textContent = String(list.length);
}

// The dialog of one member: a direct message, and what the user's role allows on it.
function openMember(app, room, u) {
    const role = roleOf(room, u.id);
    const mine = room.role;
    if (!canModerate(mine, role)) return app.openDm(u.id, u.name);
    const d = $('member-dialog');
    $('member-dialog-title').textContent = u.name;
    $('member-dialog-role').textContent = `${u.id} · ${role === 'none' ? 'no role' : role} in ${room.name}`;
    const err = $('member-dialog-error');
    err.hidden = true;
    const acts = $('member-actions');
    const act = (op, extra, done) => async () => {
        err.hidden = true;
        try {
            await app.conn.request({ op, room: room.name, user: u.id, ...extra() });
        } catch (e) {
            err.textContent = app.errorText(e);
            err.hidden = false;
            return;
        }
        d.close();
        if (done) app.toast(done);
    };
    const seconds = () => {
        const s = Number($('member-duration').value);
        return s > 0 ? { seconds: s } : {};
    };
    const entry = (info) => (room.info && room.info.users && room.info.users[u.id]) || info;
    const state = entry({});
    const buttons = [
        button('ghost', 'Send a direct message', () => { d.close(); app.openDm(u.id, u.name); }),
        button('ghost danger', 'Kick', act('kick', () => ({}), `${u.name} was removed from ${room.name}.`)),
        button('ghost danger', 'Ban', act('ban', seconds, `${u.name} was banned from ${room.name}.`)),
        active(state.mute)
            ? button('ghost', 'Unmute', act('unmute', () => ({}), `${u.name} may speak again.`))
            : button('ghost', 'Mute', act('mute', seconds, `${u.name} was muted.`)),
    ];
    for (const r of rolesToGive(mine, room.info && room.info.kind)) {
        if (r === role) continue;
        buttons.push(button('ghost', ROLE_LABEL[r], act('role', () => ({ role: r }))));
    }
    acts.replaceChildren(...buttons);
    d.showModal();
}

// The room's settings: topic (moderators), kind (owners), members of a private room, bans
// and mutes with their undo.
export function openSettings(app, room) {
    const info = room.info || {};
    const mine = room.role;
    const d = $('settings-dialog');
    $('settings-title').textContent = `${room.name} settings`;
    const err = $('settings-error');
    err.hidden = true;
    const topic = $('settings-topic');
    const kind = $('settings-kind');
    topic.value = info.topic || '';
    topic.disabled = RANK[mine] < RANK.moderator;
    kind.value = info.kind || 'open';
    kind.disabled = mine !== 'owner';
    $('settings-save').hidden = topic.disabled && kind.disabled;
    $('settings-invite').hidden = !(info.kind === 'private' && RANK[mine] >= RANK.moderator);

    const fail = (e) => { err.textContent = app.errorText(e); err.hidden = false; };
    const ruled = $('settings-users');
    const rows = Object.entries(info.users || {}).filter(([, v]) => active(v.ban) || active(v.mute));
    ruled.replaceChildren(...rows.map(([id, v]) => {
        const li = el('li', 'ruled-user');
        li.append(el('span', 'member-name', id));
        for (const [what, undo, label] of [['ban', 'unban', 'Unban'], ['mute', 'unmute', 'Unmute']]) {
            if (!active(v[what])) continue;
            const until = untilText(v[what] > FOREVER ? 0 : v[what]);
            li.append(el('span', 'muted-text', `${what === 'ban' ? 'banned' : 'muted'} ${until}`),
                button('ghost small', label, async () => {
                    try {
                        await app.conn.request({ op: undo, room: room.name, user: id });
                    } catch (e) {
                        return fail(e);
                    }
                    li.remove();
                    room.fetchInfo();
                }, `${label} ${id}`));
        }
        return li;
    }));
    $('settings-users-section').hidden = !rows.length;

    $('settings-form').onsubmit = async (e) => {
        e.preventDefault();
        err.hidden = true;
        try {
            if (!topic.disabled && topic.value !== (info.topic || '')) {
                await app.conn.request({ op: 'topic', room: room.name, topic: topic.value });
            }
            if (!kind.disabled && kind.value !== (info.kind || 'open')) {
                await app.conn.request({ op: 'kind', room: room.name, kind: kind.value });
            }
        } catch (ex) {
            return fail(ex);
        }
        d.close();
    };
    $('settings-invite').onsubmit = async (e) => {
        e.preventDefault();
        err.hidden = true;
        const who = $('invite-user').value.trim();
        if (!who) return;
        try {
            await app.conn.request({ op: 'role', room: room.name, user: who, role: 'member' });
        } catch (ex) {
            return fail(ex);
        }
        $('invite-user').value = '';
        app.toast(`${who} may join ${room.name} now.`);
        room.fetchInfo();
    };
    d.showModal();
}

// The line a rules event leaves in the room.
export function rulesText(ev) {
    const by = ev.by || 'The operator';
    const who = ev.user || 'someone';
    switch (ev.op) {
    case 'topic': return ev.topic ? `${by} set the topic: ${ev.topic}` : `${by} cleared the topic.`;
    case 'kind': return `${by} made the room ${ev.kind}.`;
    case 'role': return ev.role === 'none' ? `${by} took ${who}'s role.` : `${by} made ${who} ${ev.role}.`;
    case 'kick': return `${by} removed ${who}.`;
    case 'ban': return `${by} banned ${who} ${untilText(ev.until)}.`;
    case 'unban': return `${by} lifted ${who}'s ban.`;
    case 'mute': return `${by} muted ${who} ${untilText(ev.until)}.`;
    case 'unmute': return `${by} unmuted ${who}.`;
    default: return '';
    }
}

// What a kicked event tells the user it removed.
export function kickedText(ev) {
    if (ev.reason === 'rules') return `You can no longer be in ${ev.room}: its rules changed.`;
    const by = ev.by || 'The operator';
    return ev.ban ? `${by} banned you from ${ev.room} ${untilText(ev.until)}.`
        : `${by} removed you from ${ev.room}.`;
}
