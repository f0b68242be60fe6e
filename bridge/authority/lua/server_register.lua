-- server_register: a game server's connection becomes its one live session.
-- KEYS[1] server hash     KEYS[2] servers zset (join order)     KEYS[3] leases zset
-- ARGV[1] server id     ARGV[2] node id     ARGV[3] power     ARGV[4] lease ms     ARGV[5] authority channel
-- ARGV[6] status of the new session: 'syncing' (a fresh process: it fetches the world before taking
--         work) or 'ready' (a reconnect of the current session, which already holds it)
-- Returns {new session epoch, status before ('' if the server was never registered), status now}.
-- Invariant: every registration gets a strictly greater epoch; reports and state stamped with an
-- older one are fenced. The first registration time is kept, so the join order is stable.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "now_ms"
--- @include "announce_server"
local now = now_ms()
local before = redis.call('HGET', KEYS[1], 'status') or ''
local epoch = next_epoch(tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0'))
redis.call('HSET', KEYS[1], 'epoch', epoch)
-- A session that reconnects before it finished syncing is still syncing.
local status = ARGV[6]
if before == 'syncing' then status = 'syncing' end
redis.call('HSET', KEYS[1], 'power', ARGV[3], 'status', status, 'node', ARGV[2])
redis.call('HSETNX', KEYS[1], 'registeredAt', now)
redis.call('HSETNX', KEYS[1], 'load', 0)
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
announce_server(ARGV[5], KEYS[1], ARGV[1], epoch)
return {epoch, before, status}
