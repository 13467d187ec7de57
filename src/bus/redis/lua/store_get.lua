-- SPDX-License-Identifier: MIT
-- store_get.lua - an account by name or id (EVAL).
-- ARGV: prefix, 'name' or 'id', the name or id. {name, id, hash, gen, created} or nil.
local name = ARGV[3]
if ARGV[2] == 'id' then
  name = redis.call('GET', ARGV[1] .. 'acctid:' .. ARGV[3])
  if not name then return nil end
end
local v = redis.call('HMGET', ARGV[1] .. 'acct:' .. name, 'id', 'hash', 'gen', 'created')
if not v[1] then return nil end
return {name, v[1], v[2], v[3], v[4]}
