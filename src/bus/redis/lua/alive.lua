-- SPDX-License-Identifier: MIT
-- alive.lua - this node's liveness and the burial of dead nodes (EVALSHA).
-- KEYS: this node's liveness key, the set of nodes. ARGV: node id, node ttl s, prefix, set
-- ttl s. Refreshes this node, then removes the presence entries of every node whose liveness
-- key expired, announcing each as a leave on its room's channel. Returns how many died.
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local dead = 0
for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. 'node:' .. n) == 0 then
    local rk = ARGV[3] .. 'noderooms:' .. n
    for _, room in ipairs(redis.call('SMEMBERS', rk)) do
      local pk = ARGV[3] .. 'presence:' .. room
      local h = redis.call('HGETALL', pk)
      for i = 1, #h, 2 do
        if string.sub(h[i], 1, #n + 1) == n .. '\31' then
          redis.call('HDEL', pk, h[i])
          redis.call('PUBLISH', ARGV[3] .. 'room:' .. room, cjson.encode({p = 'leave',
            r = room, u = string.sub(h[i], #n + 2), n = h[i + 1], o = n}))
        end
      end
    end
    redis.call('DEL', rk)
    redis.call('SREM', KEYS[2], n)
    dead = dead + 1
  end
end
return dead
