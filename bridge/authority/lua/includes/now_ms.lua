-- now_ms(): the time in ms by Redis' clock, the one clock every node and script agrees on.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
