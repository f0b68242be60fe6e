-- world_guard: the first thing every script that writes the authority map, a server or a session
-- runs. The world's incarnation marker (a hash, always the script's last key) must hold the
-- incarnation this node serves (always the last argument), and must not be restoring: a map that lost
-- its data (FLUSHALL, a restart without persistence, an older snapshot, a replica promoted behind) has
-- no marker or another, and nothing may be written into it until the live parties rebuilt it
-- (world_restore); while they do, nothing new may be written (it could contradict what they restore).
-- Refused with an error reply beginning WORLD_LOST (the node answers NOT_READY and checks the marker).
-- `next_epoch(cur)` is the epoch that follows `cur`: one more, and above every epoch any earlier
-- incarnation issued (incarnation n starts at (n - 1) * 2^32 + 1), so fencing never goes backwards.
local world = redis.call('HMGET', KEYS[#KEYS], 'id', 'n', 'restoringUntil')
if world[1] ~= ARGV[#ARGV] then return redis.error_reply('WORLD_LOST this node serves another incarnation of the map') end
if world[3] then
  local t = redis.call('TIME')
  if tonumber(world[3]) > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
    return redis.error_reply('WORLD_LOST the map is being restored from the live parties')
  end
end
local function next_epoch(cur)
  return math.max(cur + 1, (tonumber(world[2]) - 1) * 4294967296 + 1)
end
