-- SPDX-License-Identifier: MIT
-- publish.lua - orders one message of a room (EVALSHA).
-- KEYS: meta hash, log stream, nonce key. ARGV: channel, user id, user name, text, nonce
-- ('' for none), log length, ttl s, epoch for a new life, room, kind ('' a message, 'e' an
-- edit, 'd' a delete), the seq an edit or delete corrects.
-- Returns {seq, epoch, ts, dup}. Numbers travel as strings: Lua would print big ones as
-- floats.
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then
  e = ARGV[8]
  redis.call('DEL', KEYS[2], KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', e, 'seq', 0)
end
local ttl = tonumber(ARGV[7])
if ARGV[5] ~= '' then
  local d = redis.call('GET', KEYS[3])
  if d then
    local de, ds = string.match(d, '^(%d+):(%d+)$')
    if de then return {ds, de, '0', 1} end
  end
end
local s = string.format('%d', redis.call('HINCRBY', KEYS[1], 'seq', 1))
local t = redis.call('TIME')
local ts = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local o = {r = ARGV[9], s = s, e = e, t = ts, u = ARGV[2], n = ARGV[3], x = ARGV[4],
  k = ARGV[5]}
if ARGV[10] ~= '' then
  o.f = ARGV[10]
  o.o = ARGV[11]
end
local m = cjson.encode(o)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], s .. '-0', 'm', m)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], e .. ':' .. s, 'EX', ttl) end
redis.call('PUBLISH', ARGV[1], m)
return {s, e, ts, 0}
