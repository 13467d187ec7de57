// What the user reads for the server's error codes (docs/protocol.md, Errors); the server's
// message is the fallback for a code this table does not know.

export const ERRORS = {
    auth_failed: 'Wrong name or password.',
    name_taken: 'That name is taken: pick another, or sign in.',
    password_invalid: 'Passwords are 8 to 1024 characters.',
    account_limit: 'This server takes no new accounts now.',
    accounts_disabled: 'This server has no accounts: continue as a guest.',
    token_invalid: 'You were signed out: sign in again.',
    token_expired: 'Your sign-in has expired: sign in again.',
    busy: 'The server is busy: try again in a moment.',
    unavailable: 'The server cannot do that right now: try again.',
    banned: 'You are banned from that room.',
    forbidden: 'You are not allowed to do that there.',
    muted: 'You are muted in this room.',
    room_exists: 'That room exists already: join it instead.',
    room_name_invalid: 'Room names are 1 to 64 bytes, without control or invisible characters.',
    user_name_invalid: 'Names are 1 to 32 bytes, without control or invisible characters.',
    too_many_rooms: 'You are in as many rooms as the server allows: leave one first.',
    offline: 'Not online now, and messages to guests are not kept.',
    inbox_full: 'Their inbox is full: try again later.',
    text_too_long: 'That message is too long.',
    last_owner: 'A room must keep an owner.',
    no_rules: 'Nobody owns that room, so nobody moderates it.',
    rule_limit: 'The room lists as many users as it may.',
    not_joined: 'You are not in that room.',
    rate_limited: 'Too fast: wait a moment and try again.',
    disconnected: 'Not connected.',
    edit_window: 'Too late: messages can only be changed for a while after they are sent.',
    not_found: 'That message is no longer there.',
    not_in_room: 'You are not in that room.',
    text_invalid: 'That text cannot be sent.',
};
const CONTEXT_ERRORS = {
    auth: { rate_limited: 'Too many attempts: wait a minute and try again.' },
    hello: { auth_required: 'That name belongs to an account: sign in, or pick another name.' },
    join: {
        auth_required: 'That room is for signed-in users.',
        forbidden: 'That room is private: a moderator must add you first.',
    },
    create: { auth_required: 'Sign in to create rooms.' },
    edit: { auth_required: 'Sign in to edit your messages.' },
    edit: { forbidden: 'Only its author can edit a message.' },
    delete: { forbidden: 'Only its author or a moderator can delete a message.' },
};

export function errorText(e, ctx) {
    const code = (e && e.code) || 'error';
    return (CONTEXT_ERRORS[ctx] || {})[code] || ERRORS[code] || (e && e.message) || code;
}
