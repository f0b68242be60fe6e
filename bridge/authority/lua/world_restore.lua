-- world_restore: one node writes back what it holds live into a rebuilt map: the servers linked to
-- it (session epoch, power, status, load, a fresh lease, their areas with epochs, their players with
-- epochs and the last seq delivered) and the client sessions it holds (session id and generation).
-- KEYS[1] world marker     KEYS[2] areas hash     KEYS[3] servers zset     KEYS[4] leases zset
-- KEYS[5] this node's player set     then per server in ARGV[5]'s order: its hash, its player set, and the
-- hash of each of its players; then the hash of each session's player
-- ARGV[1] the incarnation restored into     ARGV[2] node id     ARGV[3] lease ms     ARGV[4] authority channel
-- ARGV[5] JSON { servers: [{ id, epoch, power, status, load, areas: [[area, epoch]], players: [[id, area, epoch, seq]] }],
--                sessions: [[player, session, gen]] }
-- Returns 1 when restored; 0 when the marker holds another incarnation (the node looks again).
-- Invariant: nothing goes backwards: a record is written only where Redis holds nothing or an older
-- epoch (generation for a session) than the live party, so restores of several nodes, and an older
-- snapshot that came back, merge to the newest; every epoch written is one the party already holds.
--- @include "now_ms"
--- @include "announce_area"
--- @include "announce_server"
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
local live = cjson.decode(ARGV[5])
local now = now_ms()
local k = 6
for _, s in ipairs(live.servers) do
  local key, set = KEYS[k], KEYS[k + 1]
  k = k + 2
  if tonumber(redis.call('HGET', key, 'epoch') or '0') <= s.epoch then
    redis.call('HSET', key, 'status', s.status, 'node', ARGV[2], 'power', s.power, 'epoch', s.epoch, 'load', s.load, 'pending', 0)
    redis.call('HSETNX', key, 'registeredAt', now)
    redis.call('ZADD', KEYS[3], 'NX', now, s.id)
    redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), s.id)
    announce_server(ARGV[4], key, s.id, s.epoch)
  end
  for _, a in ipairs(s.areas) do
    local cur = redis.call('HGET', KEYS[2], a[1])
    if not cur or cjson.decode(cur).epoch <= a[2] then
      redis.call('HSET', KEYS[2], a[1], cjson.encode({server = s.id, epoch = a[2]}))
      announce_area(ARGV[4], a[1], s.id, a[2], '', '', ARGV[2])
    end
  end
  for _, p in ipairs(s.players) do
    local pkey = KEYS[k]
    k = k + 1
    if tonumber(redis.call('HGET', pkey, 'epoch') or '0') <= p[3] then
      redis.call('HSET', pkey, 'server', s.id, 'area', p[2], 'epoch', p[3], 'seq', p[4])
      redis.call('SADD', set, p[1])
    end
  end
end
for _, x in ipairs(live.sessions) do
  local pkey = KEYS[k]
  k = k + 1
  if tonumber(redis.call('HGET', pkey, 'gen') or '0') <= x[3] then
    redis.call('HSET', pkey, 'node', ARGV[2], 'session', x[2], 'gen', x[3])
    redis.call('SADD', KEYS[5], x[1])
  end
end
return 1
