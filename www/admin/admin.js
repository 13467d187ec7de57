// confab admin page (docs/architecture.md "The admin page"): the operator's view of one node
// through the HTTP API: connections, rooms and their members, messages per second and delivery
// latency sampled from /metrics, and kick, ban, close, notice. The admin token lives in this
// module only (a reload asks again) and goes out only in the Authorization header. What the
// server says goes into the page through textContent only.

const POLL_MS = 2000;
const WINDOW = 150; // samples kept: 5 minutes at POLL_MS
const SVG = 'http://www.w3.org/2000/svg';

let token = '';
let timer = null;
let selected = null; // the room shown
let samples = []; // {t, msgs, sum, count, buckets: [[le, n]]}
let points = []; // {t, rate, mean, p99} per interval

const $ = (id) => document.getElementById(id);

// Replaces a list's children only when what it shows changed: a control under the pointer
// stays the same element between polls.
const shown = new Map();
function render(id, key, make) {
    if (shown.get(id) === key) return;
    shown.set(id, key);
    $(id).replaceChildren(...make());
}

function el(tag, props = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
        if (k === 'text') e.textContent = v;
        else if (k === 'class') e.className = v;
        else if (k.startsWith('data-')) e.setAttribute(k, v);
        else e[k] = v;
    }
    e.append(...kids);
    return e;
}

// Words for an answer's status; the server's own message follows them.
const STATUS = {
    400: 'Refused',
    401: 'The admin token is wrong',
    403: 'The admin API is off (server.admin_token is empty), or that is not allowed',
    404: 'Not found: the room has no rules (it was not created with rules)',
    405: 'Method not allowed',
    409: 'Conflict',
    413: 'Too big',
    503: 'The server cannot do it now',
};

function describe(r) {
    if (r.status === 0) return `The server did not answer (${r.message})`;
    const words = STATUS[r.status] || `Error ${r.status}`;
    const e = r.json && r.json.error;
    return e ? `${words} (${r.status} ${e.code}): ${e.message}` : `${words} (${r.status})`;
}

async function api(method, path, body) {
    const headers = {Authorization: `Bearer ${token}`};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
        const res = await fetch(path, {method, headers, cache: 'no-store',
            body: body === undefined ? undefined : JSON.stringify(body)});
        const text = await res.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* /metrics is text */ }
        return {ok: res.ok, status: res.status, json, text};
    } catch (e) {
        return {ok: false, status: 0, json: null, text: '', message: String(e)};
    }
}

function say(msg, ok) {
    const m = $('action-msg');
    m.textContent = msg;
    m.className = `action-msg ${ok ? 'ok' : 'bad'}`;
}

// ---- /metrics ----

// The values of the families we chart, from Prometheus text.
export function parseMetrics(text) {
    const out = {msgs: 0, sum: 0, count: 0, buckets: [], connections: 0};
    for (const line of text.split('\n')) {
        if (!line || line[0] === '#') continue;
        const sp = line.lastIndexOf(' ');
        const name = line.slice(0, sp);
        const v = Number(line.slice(sp + 1));
        if (!Number.isFinite(v)) continue;
        if (name === 'confab_messages_in_total') out.msgs = v;
        else if (name === 'confab_connections') out.connections = v;
        else if (name === 'confab_delivery_latency_seconds_sum') out.sum = v;
        else if (name === 'confab_delivery_latency_seconds_count') out.count = v;
        else if (name.startsWith('confab_delivery_latency_seconds_bucket{le="')) {
            const le = name.slice(43, -2);
            out.buckets.push([le === '+Inf' ? Infinity : Number(le), v]);
        }
    }
    return out;
}

// One interval between two scrapes: messages/s, and the latency's mean and p99 (the upper
// bound of the bucket the 99th percentile falls in) of the deliveries in it.
export function interval(a, b) {
    const dt = (b.t - a.t) / 1000;
    const dc = b.count - a.count;
    const p = {t: b.t, rate: dt > 0 ? Math.max(0, b.msgs - a.msgs) / dt : 0, mean: null, p99: null};
    if (dc > 0) {
        p.mean = (b.sum - a.sum) / dc;
        for (let i = 0; i < b.buckets.length; i++) {
            const prev = a.buckets[i] ? a.buckets[i][1] : 0;
            if (b.buckets[i][1] - prev >= 0.99 * dc) {
                p.p99 = b.buckets[i][0] === Infinity ? (i ? b.buckets[i - 1][0] : null)
                    : b.buckets[i][0];
                break;
            }
        }
    }
    return p;
}

function ms(s) {
    if (s === null || s === undefined) return '–';
    return s < 0.001 ? `${(s * 1e6).toFixed(0)} µs` : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`;
}

function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
}

// A line chart of series (each [{t, v}], class) over the last WINDOW intervals.
function draw(id, series, fmt) {
    const box = $(id);
    const W = 600, H = 160, L = 56, B = 18;
    const now = points.length ? points[points.length - 1].t : Date.now();
    const t0 = now - WINDOW * POLL_MS;
    let max = 0;
    for (const s of series) for (const p of s.pts) if (p.v !== null) max = Math.max(max, p.v);
    max = max > 0 ? max * 1.15 : 1;
    const kids = [];
    for (let i = 0; i <= 4; i++) {
        const y = (H - B) * i / 4;
        kids.push(svg('line', {x1: L, x2: W, y1: y, y2: y, class: 'grid'}));
        const label = svg('text', {x: L - 4, y: Math.max(10, Math.min(H - B, y + 4)),
            'text-anchor': 'end', class: 'axis'});
        label.textContent = fmt(max * (4 - i) / 4);
        kids.push(label);
    }
    const left = svg('text', {x: L, y: H - 4, class: 'axis'});
    left.textContent = '-5 min';
    const right = svg('text', {x: W, y: H - 4, 'text-anchor': 'end', class: 'axis'});
    right.textContent = 'now';
    kids.push(left, right);
    for (const s of series) {
        const xy = s.pts.filter((p) => p.v !== null && p.t >= t0).map((p) =>
            `${(L + (W - L) * (p.t - t0) / (now - t0)).toFixed(1)},` +
            `${((H - B) * (1 - p.v / max)).toFixed(1)}`);
        kids.push(svg('polyline', {points: xy.join(' '), class: `line ${s.cls}`,
            'data-points': String(xy.length)}));
        // A dot per sample: a lone one (latency between quiet intervals) shows too.
        for (const p of xy) {
            const [x, y] = p.split(',');
            kids.push(svg('circle', {cx: x, cy: y, r: 2, class: `dot ${s.cls}`}));
        }
    }
    box.replaceChildren(...kids);
}

function chart() {
    const rate = points.map((p) => ({t: p.t, v: p.rate}));
    draw('chart-rate', [{pts: rate, cls: 'rate'}], (v) => v.toFixed(v < 10 ? 1 : 0));
    draw('chart-latency', [{pts: points.map((p) => ({t: p.t, v: p.mean})), cls: 'mean'},
        {pts: points.map((p) => ({t: p.t, v: p.p99})), cls: 'p99'}], ms);
    const last = points[points.length - 1];
    $('rate-now').textContent = last ? `${last.rate.toFixed(1)}/s` : '–';
    // The latest interval that had deliveries: a quiet one has no latency to show.
    const lat = points.filter((p) => p.mean !== null).pop();
    $('lat-now').textContent = lat ? `${ms(lat.mean)} / ${ms(lat.p99)}` : '–';
    $('dash').dataset.samples = String(points.length);
    $('chart-rate').dataset.peak = String(Math.max(0, ...rate.map((p) => p.v)));
}

async function sampleMetrics() {
    const r = await api('GET', '/metrics');
    if (!r.ok) return;
    const m = parseMetrics(r.text);
    m.t = Date.now();
    if (samples.length) points.push(interval(samples[samples.length - 1], m));
    samples.push(m);
    samples = samples.slice(-2);
    points = points.slice(-WINDOW);
    chart();
}

// ---- connections, rooms, members ----

async function loadUsers() {
    const r = await api('GET', '/api/v1/users?limit=200');
    if (!r.ok) return r;
    const j = r.json;
    $('node').textContent = `node ${j.node}`;
    $('conn-count').textContent = String(j.connections);
    render('conn-list', JSON.stringify(j.users), () => j.users.map((u) => el('tr', {},
        el('td', {text: u.name}), el('td', {text: u.id}), el('td', {text: String(u.sessions)}),
        el('td', {text: u.dialect}))));
    $('conn-more').textContent = j.more ? `and more: ${j.total} users in all` : '';
    return r;
}

async function loadRooms() {
    const r = await api('GET', '/api/v1/rooms?limit=100');
    if (!r.ok) return;
    const rooms = new Map();
    for (const x of r.json.rooms) rooms.set(x.name, x.members);
    for (const x of r.json.directory || []) rooms.set(x.room, Math.max(x.members, rooms.get(x.room) || 0));
    const names = [...rooms.keys()].sort();
    render('room-list', JSON.stringify([selected, names.map((n) => [n, rooms.get(n)])]), () =>
        names.map((n) => {
        const b = el('button', {type: 'button', 'data-room': n},
            el('span', {text: n}), el('span', {class: 'muted', text: String(rooms.get(n))}));
        b.setAttribute('aria-current', String(n === selected));
        b.addEventListener('click', () => { selected = n; refresh(); });
        return el('li', {}, b);
    }));
}

function memberItem(m) {
    const kick = el('button', {type: 'button', class: 'secondary', text: 'Kick'});
    const ban = el('button', {type: 'button', class: 'danger', text: 'Ban'});
    kick.addEventListener('click', () => act({op: 'kick', user: m.id}, `${m.name} was kicked`));
    ban.addEventListener('click', () => {
        const secs = $('ban-seconds').value.trim();
        const body = {op: 'ban', user: m.id};
        if (secs) body.seconds = Number(secs);
        act(body, `${m.name} was banned ${secs ? `for ${secs} s` : 'until unbanned'}`);
    });
    return el('li', {'data-user': m.id}, el('span', {class: 'member-name', text: m.name}),
        el('span', {class: 'member-id muted', text: m.id}), kick, ban);
}

async function loadRoom() {
    if (!selected) {
        $('room-detail').hidden = true;
        return;
    }
    const room = encodeURIComponent(selected);
    const [mr, rr] = await Promise.all([api('GET', `/api/v1/rooms/${room}/members?limit=200`),
        api('GET', `/api/v1/rooms/${room}/rules`)]);
    $('room-detail').hidden = false;
    $('room-name').textContent = selected;
    if (!mr.ok) {
        render('member-list', `error ${describe(mr)}`, () => [el('li', {text: describe(mr)})]);
        return;
    }
    const rules = rr.ok ? rr.json.rules : null;
    $('room-info').textContent = rules
        ? `${rules.kind}${rules.topic ? ` · ${rules.topic}` : ''}${rules.creator ? ` · by ${rules.creator}` : ''}`
        : 'no rules (kick and ban need them; close works)';
    render('member-list', JSON.stringify([selected, mr.json.members]),
        () => mr.json.members.map(memberItem));
    $('members-more').textContent = mr.json.more ? `${mr.json.total} members in all`
        : mr.json.followed ? '' : 'no member on this node: its members are on other nodes';
}

async function act(body, done) {
    const r = await api('POST', `/api/v1/rooms/${encodeURIComponent(selected)}/rules`, body);
    say(r.ok ? done : describe(r), r.ok);
    await refresh();
}

let armed = 0;
function closeRoom() {
    const b = $('close-room');
    if (Date.now() - armed > 5000) {
        armed = Date.now();
        b.textContent = `Really close ${selected}?`;
        return;
    }
    armed = 0;
    b.textContent = 'Close room';
    const room = selected;
    api('POST', `/api/v1/rooms/${encodeURIComponent(room)}/rules`, {op: 'close'}).then((r) => {
        say(r.ok ? `${room} was closed: its members were removed, its rules and history dropped`
            : describe(r), r.ok);
        if (r.ok) selected = null;
        refresh();
    });
}

async function sendNotice(ev) {
    ev.preventDefault();
    const text = $('notice-text').value;
    const r = await api('POST', '/api/v1/notice', {text});
    say(r.ok ? 'The notice was sent' : describe(r), r.ok);
    if (r.ok) $('notice-text').value = '';
}

// ---- the token and the polling ----

async function refresh() {
    const r = await loadUsers();
    if (r && r.status === 401) {
        signOut('The admin token was refused: enter it again.');
        return;
    }
    $('poll-state').textContent = r && r.ok ? `updated ${new Date().toLocaleTimeString()}`
        : `not updated: ${r ? describe(r) : ''}`;
    await Promise.all([loadRooms(), loadRoom()]);
}

async function tick() {
    await Promise.all([sampleMetrics(), refresh()]);
}

function signOut(why) {
    clearInterval(timer);
    timer = null;
    token = '';
    samples = [];
    points = [];
    selected = null;
    shown.clear();
    $('dash').hidden = true;
    $('sign-out').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = why || '';
}

async function signIn(ev) {
    ev.preventDefault();
    token = $('token').value;
    $('token').value = '';
    const r = await api('GET', '/api/v1/users?limit=1');
    if (!r.ok) {
        token = '';
        $('login-error').textContent = describe(r);
        return;
    }
    $('login-error').textContent = '';
    $('login').hidden = true;
    $('dash').hidden = false;
    $('sign-out').hidden = false;
    chart();
    await tick();
    timer = setInterval(tick, POLL_MS);
}

$('token-form').addEventListener('submit', signIn);
$('notice-form').addEventListener('submit', sendNotice);
$('close-room').addEventListener('click', closeRoom);
$('sign-out').addEventListener('click', () => signOut(''));
