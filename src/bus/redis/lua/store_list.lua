-- SPDX-License-Identifier: MIT
-- store_list.lua - the accounts (EVAL).
-- KEYS: accts. ARGV: prefix, most. {name, id, gen, created, ...} in creation order.
local out = {}
for _, n in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local v = redis.call('HMGET', ARGV[1] .. 'acct:' .. n, 'id', 'gen', 'created')
  if v[1] then
    out[#out + 1] = n; out[#out + 1] = v[1]; out[#out + 1] = v[2]; out[#out + 1] = v[3]
  end
end
return out
