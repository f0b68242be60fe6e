-- chat_post: keep a chat message in its channel's history and publish it, in one step; a player's
-- mute and rate are checked in the same step, so they hold across every connection and node.
-- KEYS[1] the channel's stream     KEYS[2] the sender's mute key     KEYS[3] the sender's rate key (hash tokens, at)
-- KEYS[4] a whisper's recipient player hash (for other channels any key of the world: not read)
-- (for a server: KEYS[2], KEYS[3] any key of the world, not read)
-- ARGV[1] channel name     ARGV[2] from     ARGV[3] text     ARGV[4] messages kept (MAXLEN)
-- ARGV[5] the channel's pub/sub channel     ARGV[6] '1' if the sender is a player (muted, rate-limited)
-- ARGV[7] messages a player may send per minute     ARGV[8] its burst
-- ARGV[9] '1' if the channel is a whisper inbox     ARGV[10] how long an inbox is kept after its last message (ms)
-- Returns {1, id, at} when posted; {0, ms of mute left} when muted; {-1, ms until a message is allowed} when
-- over the rate; {-2} when a whisper names a player the world has never seen.
-- Invariants: messages are published in the order of their ids (scripts run one at a time), so a
-- receiver that drops ids it has seen loses nothing and never reorders. An inbox exists only for a
-- known player and expires, so no one grows Redis by whispering to made-up ids.
--- @include "now_ms"
local at = now_ms()
if ARGV[6] == '1' then
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then return {0, left} end
  local perMs, burst = tonumber(ARGV[7]) / 60000, tonumber(ARGV[8])
  local saved = redis.call('HMGET', KEYS[3], 'tokens', 'at')
  local tokens = burst
  if saved[1] then tokens = math.min(burst, tonumber(saved[1]) + (at - tonumber(saved[2])) * perMs) end
  if tokens < 1 then return {-1, math.ceil((1 - tokens) / perMs)} end
  redis.call('HSET', KEYS[3], 'tokens', tostring(tokens - 1), 'at', at)
  redis.call('PEXPIRE', KEYS[3], math.ceil(burst / perMs))
end
if ARGV[9] == '1' and redis.call('EXISTS', KEYS[4]) == 0 then return {-2} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 'from', ARGV[2], 'text', ARGV[3], 'at', at)
if ARGV[9] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[10]) end
redis.call('SPUBLISH', ARGV[5], cjson.encode({ id = id, channel = ARGV[1], from = ARGV[2], text = ARGV[3], at = at }))
return {1, id, at}
