-- server_report: a load report from a server; refreshes its lease.
-- KEYS[1] server hash     KEYS[2] leases zset     KEYS[3] area-load hash
-- ARGV[1] server id     ARGV[2] session epoch     ARGV[3] load     ARGV[4] power ('' = unchanged)
-- ARGV[5] lease ms     ARGV[6] authority channel     ARGV[7..] area id, area load pairs
-- Returns 1 when applied; 0 when the epoch is not the current session's (fenced).
-- Invariant: only the current session of a server that is alive (ready or draining) can extend
-- its lease; a server declared dead stays dead. The report counts every player the server holds,
-- so the players assigned since the last one (`pending`) start again from 0.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "now_ms"
--- @include "announce_server"
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[2]) then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'dead' or status == 'gone' then return 0 end
-- The last argument is the world's incarnation, not an area.
for i = 7, #ARGV - 1, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local now = now_ms()
redis.call('HSET', KEYS[1], 'load', ARGV[3], 'pending', 0)
if status == 'disconnected' then redis.call('HSET', KEYS[1], 'status', 'ready') end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'power', ARGV[4]) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
announce_server(ARGV[6], KEYS[1], ARGV[1], ARGV[2])
return 1
