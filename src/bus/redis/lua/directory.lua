-- SPDX-License-Identifier: MIT
-- directory.lua - a page of the room directory (EVALSHA): rooms with rules in name order.
-- KEYS: the ruled sorted set. ARGV: prefix, after ('' from the first), how many to read, the
-- key prefix (redis.prefix). Returns {room, rules JSON or false, users present} for up to that
-- many rooms whose names start with prefix and sort after `after`, and 1 when more may follow;
-- the node drops the private ones and reads on from the last name when it needs more.
local lo
if ARGV[2] ~= '' then lo = '(' .. ARGV[2] else lo = '[' .. ARGV[1] end
local hi = '[' .. ARGV[1] .. '\255'
local n = tonumber(ARGV[3])
local names = redis.call('ZRANGEBYLEX', KEYS[1], lo, hi, 'LIMIT', 0, n + 1)
local out = {}
for i = 1, math.min(#names, n) do
  local r = names[i]
  out[#out + 1] = {r, redis.call('HGET', ARGV[4] .. 'rules:' .. r, 'j'),
    redis.call('HLEN', ARGV[4] .. 'presence:' .. r)}
end
return {out, #names > n and 1 or 0}
