-- SPDX-License-Identifier: MIT
-- presence.lua - a user's first session in a room on this node, or its last (EVALSHA).
-- KEYS: presence hash, the node's room set. ARGV: field (node \x1f user id), user name,
-- '1' joined / '0' left, room channel, event, ttl s, room.
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[7])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
