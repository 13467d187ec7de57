-- SPDX-License-Identifier: MIT
-- created.lua - seed 002's created rooms (EVALSHA).
-- KEYS: the set of created rooms (member: room, score: the Redis time, in s, at which it
-- expires). ARGV: 'add' or 'check', ttl s, max rooms alive (add), room. add: removes the expired
-- ones, then records room unless max are alive (0) or it is there (-1). check: whether room is
-- there and not expired (0 otherwise), and if so gives it ttl again. The set itself lives at
-- least as long as its newest member. Returns 1 when done.
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[2])
if ARGV[1] == 'add' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
  if redis.call('ZADD', KEYS[1], 'NX', now + ttl, ARGV[4]) == 0 then return -1 end
else
  local s = redis.call('ZSCORE', KEYS[1], ARGV[4])
  if not s or tonumber(s) <= now then return 0 end
  if tonumber(s) < now + ttl then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[4])
  end
end
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
