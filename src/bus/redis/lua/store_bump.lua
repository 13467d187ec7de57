-- SPDX-License-Identifier: MIT
-- store_bump.lua - a new token generation (EVAL).
-- KEYS: acct:<name>. {id, gen, created} or nil.
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local g = redis.call('HINCRBY', KEYS[1], 'gen', 1)
local v = redis.call('HMGET', KEYS[1], 'id', 'created')
return {v[1], tostring(g), v[2]}
