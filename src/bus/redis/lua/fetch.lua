-- SPDX-License-Identifier: MIT
-- fetch.lua - a room's catch-up read (EVALSHA).
-- KEYS: meta hash, log stream, presence hash, rules hash. ARGV: after seq (-1: the newest count entries),
-- count, epoch for a new life, ttl s, how many entries up to after to return as well (to check
-- they are the ones this node delivered). Returns {epoch, seq, entries, presence, entries up
-- to after newest first, prev epoch, base seq, rules}: prev and base (or nil) say that the
-- current epoch continues prev after seq base (a failover lost what followed base); rules is
-- the room's rules JSON (or nil: none), read with the rest so a join is checked against them.
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then
  e = ARGV[3]
  redis.call('DEL', KEYS[2], KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', e, 'seq', 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local after = tonumber(ARGV[1])
local r
if after < 0 then
  r = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
else
  r = redis.call('XRANGE', KEYS[2], string.format('%d', after + 1) .. '-0', '+',
    'COUNT', ARGV[2])
end
local upto = {}
if after > 0 and tonumber(ARGV[5]) > 0 then
  upto = redis.call('XREVRANGE', KEYS[2], string.format('%d', after) .. '-0', '-',
    'COUNT', ARGV[5])
end
local pb = redis.call('HMGET', KEYS[1], 'prev', 'base')
return {e, redis.call('HGET', KEYS[1], 'seq'), r, redis.call('HGETALL', KEYS[3]), upto, pb[1],
  pb[2], redis.call('HGET', KEYS[4], 'j')}
