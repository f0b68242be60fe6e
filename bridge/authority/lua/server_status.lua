-- server_status: move a server's session to draining, dead or gone, back from draining to ready, or
-- from syncing to ready ('synced': it fetched the world after registering).
-- KEYS[1] server hash     KEYS[2] leases zset     KEYS[3] servers zset
-- ARGV[1] server id     ARGV[2] session epoch     ARGV[3] new status (draining|dead|gone|ready|synced)
-- ARGV[4] authority channel     ARGV[5] for 'dead': only if the lease deadline has passed ('1'), else '0'
-- Returns 1 when applied; 0 when the epoch is not current, the lease was renewed meanwhile, or (for
-- 'ready': a cancelled or abandoned drain) the server is not draining, (for 'synced') not syncing.
-- Invariant: only the current session's status changes; a dead or gone server holds no lease, and
-- its epoch is never current again (a reconnect registers a new, greater one).
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "now_ms"
--- @include "announce_server"
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[2]) then return 0 end
local status = ARGV[3]
if status == 'ready' and redis.call('HGET', KEYS[1], 'status') ~= 'draining' then return 0 end
if status == 'synced' then
  if redis.call('HGET', KEYS[1], 'status') ~= 'syncing' then return 0 end
  status = 'ready'
end
if ARGV[5] == '1' then
  local deadline = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
  if deadline > now_ms() then return 0 end
end
redis.call('HSET', KEYS[1], 'status', status)
if status == 'dead' or status == 'gone' then redis.call('ZREM', KEYS[2], ARGV[1]) end
if status == 'gone' then redis.call('ZREM', KEYS[3], ARGV[1]) end
announce_server(ARGV[4], KEYS[1], ARGV[1], ARGV[2])
return 1
