-- SPDX-License-Identifier: MIT
-- history.lua - a page of a room's log for the REST API (EVALSHA).
-- KEYS: meta hash, log stream. ARGV: the newest entry id to read ('+' for the newest), count.
-- Returns {epoch or false, seq, entries newest first, prev epoch, base seq}. Reads only.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'prev', 'base')
return {m[1], m[2], redis.call('XREVRANGE', KEYS[2], ARGV[1], '-', 'COUNT', ARGV[2]),
  m[3], m[4]}
