-- SPDX-License-Identifier: MIT
-- dmkeep.lua - a direct message kept if offline (EVALSHA).
-- The inbox list of a user whose direct messages are kept (cf_msg.keep) holds two kinds of
-- entry, each its message's JSON with "i" (its id) and "q" (when it was kept, Redis's clock):
-- waiting ones ("w": 1), kept while no node followed the user, and held ones, PUBLISHed with
-- "h": 1 and kept until a node says a session has written them (dmdone.lua). Waiting entries are
-- always the newest (a drain publishes them all and makes them held), so the tail tells whether
-- any wait. A held entry whose write never happened (the session closed, the node died) is
-- published again by the user's next drain: delivery is at least once, and the id lets a
-- client drop a message it has shown.
--
-- KEYS: the user's inbox list, and for a message kept only for accounts (cf_msg.keep_acct) the
-- user's account hash. ARGV: the user's channel, the message (JSON), max messages, max bytes,
-- ttl s. With the account hash given and missing (a guest), the message is a plain one:
-- PUBLISHed, never kept, receivers -1 when nobody follows the user. Else, with entries waiting,
-- the message waits behind them (publishing it would overtake them; the pending drain delivers
-- all in order); with none, it is PUBLISHed and held, or kept waiting when no node follows the
-- user. A message too large to keep is PUBLISHed, not held. The expired head and whatever
-- exceeds the bounds are dropped, oldest first. Whether the user is an account is decided here,
-- in the same step as the keep, so no node needs to ask before sending. Returns {receivers (0:
-- kept waiting; -1: not kept, nobody follows the user), dropped for max messages (-1: the
-- message alone is over max bytes and nobody follows the user), for max bytes, expired}.
if #KEYS > 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  local n = redis.call('PUBLISH', ARGV[1], ARGV[2])
  if n > 0 then return {n, 0, 0, 0} end
  return {-1, 0, 0, 0}
end
local tail = redis.call('LINDEX', KEYS[1], -1)
local waiting = tail and cjson.decode(tail).w ~= nil
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local o = cjson.decode(ARGV[2])
o.q = string.format('%d', now)
local maxb = tonumber(ARGV[4])
local n = 0
if #cjson.encode(o) > maxb then
  if not waiting then n = redis.call('PUBLISH', ARGV[1], ARGV[2]) end
  if n > 0 then return {n, 0, 0, 0} end
  return {0, -1, 0, 0}
end
if not waiting then
  local h = cjson.decode(ARGV[2])
  h.h = 1
  n = redis.call('PUBLISH', ARGV[1], cjson.encode(h))
end
if n == 0 then o.w = 1 else o.p = o.q end
local m = cjson.encode(o)
local ttl = tonumber(ARGV[5]) * 1000
local exp = 0
while true do
  local e = redis.call('LINDEX', KEYS[1], 0)
  if not e or now - tonumber(cjson.decode(e).q) < ttl then break end
  redis.call('LPOP', KEYS[1])
  exp = exp + 1
end
local len = redis.call('RPUSH', KEYS[1], m)
local maxn = tonumber(ARGV[3])
local dc = 0
if len > maxn then
  redis.call('LTRIM', KEYS[1], len - maxn, -1)
  dc = len - maxn
end
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local bytes = 0
for _, e in ipairs(all) do bytes = bytes + #e end
local db = 0
while bytes > maxb do
  db = db + 1
  bytes = bytes - #all[db]
  redis.call('LPOP', KEYS[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {n, dc, db, exp}
