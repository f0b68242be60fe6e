-- world_time: now in ms by the clock of the Redis server that holds the world's keys.
-- KEYS[1] any key of the world (never read: on a Redis Cluster its slot picks the server)
-- Returns the time in ms.
-- Invariant: the nodes read the clock the scripts use. On one server any TIME would do; on a
-- cluster, whose servers' clocks differ, a plain TIME goes to any of them.
--- @include "now_ms"
return now_ms()
