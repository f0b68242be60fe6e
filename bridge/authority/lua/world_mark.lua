-- world_mark: a node's look at the world's incarnation marker, when it starts and at every heartbeat.
-- KEYS[1] the world marker (hash: id, n, rev, restoringUntil)
-- ARGV[1] the incarnation id this node serves ('' when it starts)     ARGV[2] an id for a new world
-- Returns {id, n, rev} as the marker stands after the call ({'', 0, 0}: there is none).
-- A starting node finding no marker creates one (n = 1): a new world, or one that lost its data
-- with every node that served it. A serving node counts `rev` up when the marker is its own; a
-- marker gone or changed, or a rev not above the last one the node got (an older snapshot came
-- back), tells it the map lost data (world_rebuild).
-- Invariant: rev grows by one per heartbeat of any node as long as the data it lives in does.
if ARGV[1] == '' and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'n', 1, 'rev', 0)
end
local m = redis.call('HMGET', KEYS[1], 'id', 'n', 'rev')
if not m[1] then return {'', 0, 0} end
local rev = tonumber(m[3] or '0')
if m[1] == ARGV[1] then rev = redis.call('HINCRBY', KEYS[1], 'rev', 1) end
return {m[1], tonumber(m[2] or '1'), rev}
