-- SPDX-License-Identifier: MIT
-- store_create.lua - a new account (EVAL).
-- KEYS: acct:<name>, acctid:<id>, accts. ARGV: name, id, hash, created, max accounts.
-- HSETNX semantics for the whole account: two nodes racing for a name cannot both win.
-- Returns 1, 0 when the name is taken, -1 at max accounts.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('LLEN', KEYS[3]) >= tonumber(ARGV[5]) then return -1 end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'hash', ARGV[3], 'gen', '0', 'created', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
