// The sidebar: the user's rooms and conversations with their unread counts (the one shown
// marked aria-current), the page title's total, and the drawer it becomes on a phone.
import { el, button, avatar } from './util.js';

export function totalUnread(app) {
    let n = 0;
    for (const r of app.rooms.values()) n += r.unread;
    for (const d of app.dms.values()) n += d.unread;
    return n;
}

export function updateTitle(app) {
    const n = totalUnread(app);
    const v = app.view;
    document.title = (n ? `(${n}) ` : '') + (v ? `${v.title} · confab` : 'confab');
}

// Updates a list in place, so that a button that has the focus keeps it.
function syncList(ul, items, make, update) {
    const old = new Map([...ul.children].map((li) => [li.dataset.key, li]));
    items.forEach((it, i) => {
        let li = old.get(it.key);
        if (li) old.delete(it.key);
        else li = make(it);
        update(li, it);
        if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    });
    for (const li of old.values()) li.remove();
}

function navItem(app, v, icon) {
    const li = el('li');
    li.dataset.key = v.key;
    const b = button('nav-item', null, () => app.show(v, true));
    const label = el('span', 'nav-label');
    label.append(icon, el('span', 'nav-name'));
    b.append(label, el('span', 'badge unread'));
    li.append(b);
    return li;
}

function updateNav(app, li, v) {
    const b = li.firstElementChild;
    const badge = b.lastElementChild;
    b.querySelector('.nav-name').textContent = v.name;
    badge.textContent = v.unread > 99 ? '99+' : String(v.unread);
    badge.hidden = !v.unread;
    b.classList.toggle('has-unread', v.unread > 0);
    if (app.view === v) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
    b.setAttribute('aria-label', v.name + (v.unread ? `, ${v.unread} unread` : ''));
}

export function renderSidebar(app) {
    const ui = app.ui;
    syncList(ui.roomList, [...app.rooms.values()], (r) => navItem(app, r, el('span', 'hash', '#')),
        (li, r) => updateNav(app, li, r));
    const dms = [...app.dms.values()].sort((a, b) => b.lastTs - a.lastTs);
    syncList(ui.dmList, dms, (d) => navItem(app, d, avatar(d)), (li, d) => updateNav(app, li, d));
    ui.dmEmpty.hidden = dms.length > 0;
    const n = totalUnread(app);
    ui.totalUnread.textContent = String(n);
    ui.totalUnread.hidden = !n;
    updateTitle(app);
}

export function openSidebar(ui) {
    ui.app.classList.add('sidebar-open');
    ui.sidebarToggle.setAttribute('aria-expanded', 'true');
    const cur = ui.sidebar.querySelector('[aria-current]') || ui.sidebar.querySelector('button');
    if (cur) cur.focus();
}

export function closeSidebar(ui, focusToggle) {
    if (!ui.app.classList.contains('sidebar-open')) return;
    ui.app.classList.remove('sidebar-open');
    ui.sidebarToggle.setAttribute('aria-expanded', 'false');
    if (focusToggle) ui.sidebarToggle.focus();
}
