-- SPDX-License-Identifier: MIT
-- dmdone.lua - a held direct message was written (EVALSHA).
-- KEYS: the user's inbox list. ARGV: a message id. A session has written the held message with
-- that id: it is delivered, drop it. Returns 1, or 0 when it is not held there (another node
-- wrote it first, it expired, or it waits: it was never published).
for _, m in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local o = cjson.decode(m)
  if o.i == ARGV[1] and o.w == nil then
    redis.call('LREM', KEYS[1], 1, m)
    return 1
  end
end
return 0
