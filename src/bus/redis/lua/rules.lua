-- SPDX-License-Identifier: MIT
-- rules.lua - keeps a room's rules (EVALSHA): writes them if they are still the version the
-- node read (so two nodes changing one room's rules cannot both win), and tells every node
-- that follows the room.
-- KEYS: rules hash {v, j}, ruled sorted set (rooms with rules, all score 0: in name order for
-- the directory), the creator's set of created rooms
-- (create, and close of a room with rules; else the same as KEYS[2]), the room's meta hash, the room's presence
-- hash, the room's log stream.
-- ARGV: version read (0: none), new version, new rules JSON ('' for a kick or a close: nothing
-- written), channel, payload, room, 'create', 'change' or 'close', most rooms with rules, most
-- per creator. A close removes the rules and the room's history: its name is new again.
-- Returns 'ok', 'conflict' (another change came first: read again), 'exists' (create of a
-- room that has rules, members or history), 'full' (ruled set at its bound), 'quota' (the
-- creator's bound).
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[7] == 'create' then
  if v then return 'exists' end
  if redis.call('EXISTS', KEYS[4]) == 1 or redis.call('HLEN', KEYS[5]) > 0 then
    return 'exists'
  end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then return 'full' end
  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[9]) then return 'quota' end
elseif (v or '0') ~= ARGV[1] then
  return 'conflict'
end
if ARGV[7] == 'close' then
  redis.call('DEL', KEYS[1], KEYS[4], KEYS[6])
  redis.call('ZREM', KEYS[2], ARGV[6])
  -- A room without rules has no creator: KEYS[3] is KEYS[2] then.
  if KEYS[3] ~= KEYS[2] then redis.call('SREM', KEYS[3], ARGV[6]) end
elseif ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'j', ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[6])
  if ARGV[7] == 'create' then redis.call('SADD', KEYS[3], ARGV[6]) end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 'ok'
