-- area_assign: give an area to a server, or release it; compare-and-set on the area epoch.
-- KEYS[1] areas hash (area id -> JSON {server, epoch})
-- KEYS[2] target server hash (its status must be 'ready'; unused when releasing)
-- ARGV[1] area id     ARGV[2] expected epoch (0 = never owned)     ARGV[3] target server id ('' = release)
-- ARGV[4] authority channel     ARGV[5] update id ('' = nobody waits for cache acks)     ARGV[6] calling node
-- Returns {1, server, epoch} when applied; {0, server, epoch} (the current owner) when the expected
-- epoch is stale; {-1, server, epoch} when the target is not a ready server.
-- Invariant: an area's epoch grows with every change (by one, or to its incarnation's base) and never decreases (it survives
-- release), so anything stamped with an older epoch is fenced. The change and its announcement on
-- the authority channel are one atomic step: no cache can miss it while subscribed.
-- Last key and last argument: the world marker and the incarnation this node serves (world_guard).
--- @include "world_guard"
--- @include "announce_area"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local server, epoch = '', 0
if cur then
  local o = cjson.decode(cur)
  server, epoch = o.server, o.epoch
end
if epoch ~= tonumber(ARGV[2]) then return {0, server, epoch} end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], 'status') ~= 'ready' then return {-1, server, epoch} end
epoch = next_epoch(epoch)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({server = ARGV[3], epoch = epoch}))
announce_area(ARGV[4], ARGV[1], ARGV[3], epoch, server, ARGV[5], ARGV[6])
return {1, ARGV[3], epoch}
