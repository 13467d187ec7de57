// Opt-in desktop notifications: asked for only after the user clicks, shown only while the
// tab is hidden (direct messages and mentions).
import { store } from './util.js';

const supported = () => 'Notification' in window;

export function notifyState() {
    if (!supported()) return 'unsupported';
    if (Notification.permission === 'denied') return 'denied';
    return Notification.permission === 'granted' && store.get('notify') === '1' ? 'on' : 'off';
}

// Called from a click: asks the browser once, then remembers the user's choice.
export async function toggleNotify() {
    if (notifyState() === 'on') {
        store.set('notify', '0');
        return 'off';
    }
    if (!supported()) return 'unsupported';
    const p = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    if (p === 'granted') store.set('notify', '1');
    return notifyState();
}

export function notify(title, body, tag, onClick) {
    if (notifyState() !== 'on' || !document.hidden) return;
    try {
        const n = new Notification(title, { body: body.slice(0, 200), tag });
        n.onclick = () => {
            window.focus();
            onClick();
            n.close();
        };
    } catch {
        /* some mobile browsers only notify from a service worker */
    }
}
