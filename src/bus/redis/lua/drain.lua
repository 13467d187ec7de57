-- SPDX-License-Identifier: MIT
-- drain.lua - delivers a user's inbox (EVALSHA).
-- KEYS: the user's inbox list. ARGV: the user's channel, ttl s, grace ms. Runs once a node's
-- subscription to the user's channel is confirmed: PUBLISHes every entry, oldest first, with
-- "h": 1, on the user's channel, so every node that follows the user delivers it to its
-- sessions, and keeps it, held ("p": when published), until a node says it was written. A held
-- entry published less than grace ago is on its way to sessions that follow the user already
-- (another node drained it a moment ago) and is left alone: this node's sessions get all of a
-- drain or none of it, and an entry whose sessions died comes with a later drain. Expired
-- entries are dropped; should nobody follow the channel any more (the session left
-- meanwhile), the rest waits again. Returns {sent, expired}.
local l = redis.call('LRANGE', KEYS[1], 0, -1)
if #l == 0 then return {0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2]) * 1000
redis.call('DEL', KEYS[1])
local sent, exp, gone, keep = 0, 0, false, {}
for _, m in ipairs(l) do
  local o = cjson.decode(m)
  if now - tonumber(o.q) >= ttl then
    exp = exp + 1
  else
    local fresh = o.w == nil and o.p and now - tonumber(o.p) < tonumber(ARGV[3])
    if not gone and not fresh then
      o.w = nil
      o.h = 1
      if redis.call('PUBLISH', ARGV[1], cjson.encode(o)) > 0 then
        sent = sent + 1
        o.p = string.format('%d', now)
      else
        gone = true
      end
      o.h = nil
    end
    if gone then o.w = 1 end
    keep[#keep + 1] = cjson.encode(o)
  end
end
if #keep > 0 then
  redis.call('RPUSH', KEYS[1], unpack(keep))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {sent, exp}
