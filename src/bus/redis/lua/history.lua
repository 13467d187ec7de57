-- SPDX-License-Identifier: MIT
-- history.lua - a page of a room's log for the REST API (EVALSHA).
-- KEYS: meta hash, log stream. ARGV: the newest entry id to read ('+' for the newest), count.
-- Returns {epoch or false, seq, entries newest first, prev epoch, base seq, fixes}: fixes are
-- the edits and deletes newer than the page, oldest first, which correct its messages (a page
-- from the newest has none). Reads only.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'prev', 'base')
local page = redis.call('XREVRANGE', KEYS[2], ARGV[1], '-', 'COUNT', ARGV[2])
local fixes = {}
if ARGV[1] ~= '+' then
  -- A fix is an entry whose JSON has the key "f"; inside a JSON string every '"' is escaped,
  -- so the text of a message cannot look like one (and C parses what it gets anyway).
  for _, ent in ipairs(redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+')) do
    if string.find(ent[2][2], '"f":"', 1, true) then fixes[#fixes + 1] = ent end
  end
end
return {m[1], m[2], page, m[3], m[4], fixes}
