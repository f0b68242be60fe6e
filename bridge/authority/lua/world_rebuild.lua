-- world_rebuild: starts the next incarnation of a world whose map lost data, for the live parties
-- to restore into (world_restore); or names the one another node started already.
-- KEYS[1] the world marker
-- ARGV[1] the incarnation id the calling node served     ARGV[2] its number n
-- ARGV[3] an id for the next incarnation     ARGV[4] how long the restore lasts (ms): until then the
-- guarded scripts refuse (world_guard), so nothing new is written before every live node restored
-- Returns {id, n, 1} when it started incarnation n; {id, n, 0} when a later one than the node's exists.
-- Invariant: n only grows, so every epoch issued later is above every epoch issued before
-- (world_guard's next_epoch); all nodes that served the lost map restore into the same incarnation.
local m = redis.call('HMGET', KEYS[1], 'id', 'n')
local n = tonumber(m[2] or '0')
if m[1] and m[1] ~= ARGV[1] and n > tonumber(ARGV[2]) then return {m[1], n, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next = math.max(n, tonumber(ARGV[2])) + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'n', next, 'rev', 0, 'restoringUntil', now + tonumber(ARGV[4]))
return {ARGV[3], next, 1}
