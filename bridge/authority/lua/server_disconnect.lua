-- server_disconnect: a server's connection closed without a drain. It keeps its areas while it may
-- come back: its lease is cut to the reconnect grace (never lengthened), after which the lease
-- check recovers them. A reconnect with its epoch (server_register) gives it a full lease again.
-- KEYS[1] server hash     KEYS[2] leases zset
-- ARGV[1] server id     ARGV[2] session epoch     ARGV[3] authority channel     ARGV[4] reconnect grace ms
-- Returns 1 when applied; 0 when a newer session exists (nothing to do).
-- Invariant: a closing stale connection never marks the current session disconnected nor touches
-- its lease; a dead or gone server stays so, and a syncing one stays syncing (it takes no work).
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "now_ms"
--- @include "announce_server"
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[2]) then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'dead' or status == 'gone' or status == 'syncing' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'disconnected')
redis.call('ZADD', KEYS[2], 'XX', 'LT', now_ms() + tonumber(ARGV[4]), ARGV[1])
announce_server(ARGV[3], KEYS[1], ARGV[1], ARGV[2])
return 1
