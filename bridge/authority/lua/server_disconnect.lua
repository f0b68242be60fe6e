-- server_disconnect: a server's connection closed; it keeps its areas until its lease runs out.
-- KEYS[1] server hash
-- ARGV[1] server id     ARGV[2] session epoch     ARGV[3] authority channel
-- Returns 1 when applied; 0 when a newer session exists (nothing to do).
-- Invariant: a closing stale connection never marks the current session disconnected, and a
-- dead or gone server stays so, and a syncing one stays syncing (it takes no work either way).
--- @include "announce_server"
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[2]) then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'dead' or status == 'gone' or status == 'syncing' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'disconnected')
announce_server(ARGV[3], KEYS[1], ARGV[1], ARGV[2])
return 1
