-- SPDX-License-Identifier: MIT
-- store_key.lua - the token signing key (EVAL).
-- KEYS: authkey. ARGV: a fresh random key. The key every node uses.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
