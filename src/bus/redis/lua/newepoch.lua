-- SPDX-License-Identifier: MIT
-- newepoch.lua - continues a room's history in a new epoch (EVALSHA).
-- KEYS: meta hash. ARGV: the epoch seen, a new one, the last seq the new one keeps of the old.
-- Replaces the epoch if it is still the one seen (another node may have done it already).
-- Entries after base written under the old epoch belong to the new one.
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'prev', ARGV[1], 'base', ARGV[3])
end
return 1
