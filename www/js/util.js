// Small helpers shared by the web client's modules: DOM building (text only, never HTML),
// time formatting, avatars and localStorage that survives private mode.

export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
}

export function button(cls, text, onClick, label) {
    const b = el('button', cls, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    if (onClick) b.addEventListener('click', onClick);
    return b;
}

export const byteLen = (s) => new TextEncoder().encode(s).length;

export const randomNonce = () => Array.from(crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, '0')).join('');

// 1..max bytes, no control characters (C0, DEL, C1) and no leading or trailing space: the
// protocol's rules for names, minus the Unicode categories the server checks itself.
export function validName(s, max) {
    return s.length > 0 && s === s.trim() && byteLen(s) <= max && !/[\u0000-\u001f\u007f-\u009f]/.test(s);
}

export const store = {
    get(k) { try { return localStorage.getItem('confab.' + k); } catch { return null; } },
    // false: not kept (private mode, or the quota is full)
    set(k, v) {
        try {
            localStorage.setItem('confab.' + k, v);
            return true;
        } catch {
            return false;
        }
    },
    del(k) { try { localStorage.removeItem('confab.' + k); } catch { /* private mode */ } },
    getJSON(k) {
        try { return JSON.parse(this.get(k) || 'null'); } catch { return null; }
    },
    setJSON(k, v) { return this.set(k, JSON.stringify(v)); },
};

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined,
    { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function timeEl(ts) {
    const d = new Date(ts);
    const t = el('time', 'time',
        (d.toDateString() === new Date().toDateString() ? timeFmt : dateFmt).format(d));
    t.dateTime = d.toISOString();
    t.title = d.toLocaleString();
    return t;
}

export function untilText(unixSeconds) {
    return unixSeconds ? 'until ' + dateFmt.format(new Date(unixSeconds * 1000)) : 'for good';
}

function hue(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.codePointAt(0)) % 360;
    return h;
}

export function avatar(user) {
    const a = el('span', 'avatar', Array.from(user.name || '?')[0].toUpperCase());
    a.style.setProperty('--hue', hue(user.id));
    a.setAttribute('aria-hidden', 'true');
    return a;
}

// One message as a list item: avatar, name, time (or a status label) and the text.
export function messageEl(from, text, meta, own) {
    const li = el('li', own ? 'msg own' : 'msg');
    const head = el('div', 'meta');
    const who = el('span', 'from', own ? 'You' : from.name);
    who.style.setProperty('--hue', hue(from.id));
    who.title = from.id;
    head.append(who, ' ', meta);
    const body = el('div', 'bubble');
    body.append(head, el('p', 'text', text));
    li.append(avatar(from), body);
    return li;
}

// Runs fn, which changes the list inside scroller, keeping the view at the bottom if it was
// there (or force), and otherwise where it was.
export function keepScroll(scroller, fn, force) {
    const stick = force || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    fn();
    if (stick) scroller.scrollTop = scroller.scrollHeight;
}

// Runs fn, which adds content above what is shown, and keeps what was shown in place.
export function keepAnchor(scroller, fn) {
    const before = scroller.scrollHeight;
    fn();
    scroller.scrollTop += scroller.scrollHeight - before;
}
