-- SPDX-License-Identifier: MIT
-- readset.lua - raises a user's read marker in a room (EVALSHA), never lowers it, and tells the
-- user's sessions on every node when it moved.
-- KEYS: read hash (room -> seq), the hash's recency sorted set (room -> when it last moved).
-- ARGV: room, seq, most markers per user, the user's channel, the message to publish.
-- Returns {the marker now as a string, 1 if this call moved it else 0}. Beyond the bound the marker that moved longest ago goes.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return {cur, 0} end
if not cur and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  local old = redis.call('ZPOPMIN', KEYS[2])
  if old[1] then redis.call('HDEL', KEYS[1], old[1]) end
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])), ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {ARGV[2], 1}
