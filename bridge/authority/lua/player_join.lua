-- player_join: bind a client session (on a bridge node) to a player's record.
-- KEYS[1] player hash     KEYS[2] the node's player set (so a dead node's sessions can be ended)
-- ARGV[1] player id     ARGV[2] node id     ARGV[3] session id     ARGV[4] authority channel
-- Returns the record before the join, {server, area, epoch, seq, node, session} (false = unset),
-- followed by this join's generation.
-- Invariant: one session holds a player at a time. Each join gets a greater generation; the
-- announcement tells any node holding an older generation to disconnect that session.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
local r = redis.call('HMGET', KEYS[1], 'server', 'area', 'epoch', 'seq', 'node', 'session')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'session', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SPUBLISH', ARGV[4], cjson.encode({
  t = 'session', player = ARGV[1], node = ARGV[2], session = ARGV[3], gen = gen,
}))
r[7] = gen
return r
