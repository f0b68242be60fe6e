-- chat_post: keep a chat message in its channel's history and publish it, in one step.
-- KEYS[1] the channel's stream     KEYS[2] the sender's mute key (any key of the world for a server)
-- ARGV[1] channel name     ARGV[2] from     ARGV[3] text     ARGV[4] messages kept (MAXLEN)
-- ARGV[5] the channel's pub/sub channel     ARGV[6] '1' if the sender can be muted (a player)
-- Returns {1, id, at} when posted; {0, ms of mute left} when the sender is muted.
-- Invariant: messages are published in the order of their ids (scripts run one at a time), so a
-- receiver that drops ids it has seen loses nothing and never reorders.
--- @include "now_ms"
if ARGV[6] == '1' then
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then return {0, left} end
end
local at = now_ms()
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 'from', ARGV[2], 'text', ARGV[3], 'at', at)
redis.call('SPUBLISH', ARGV[5], cjson.encode({ id = id, channel = ARGV[1], from = ARGV[2], text = ARGV[3], at = at }))
return {1, id, at}
