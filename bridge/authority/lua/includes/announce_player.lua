-- announce_player(channel, key, p): publishes a player's new placement. `p` holds player, server,
-- area, epoch, and for an attach seq, reason, update id, calling node, whether to carry the
-- saved state, and `resync` (the new owner may see a jump past seq: a crash lost what came after). The node is read from the hash: the session's node is the one to tell.
local function announce_player(channel, key, p)
  local snapshot = p.with_snapshot and redis.call('HGET', key, 'snapshot')
  redis.call('SPUBLISH', channel, cjson.encode({
    t = 'player', player = p.player, server = p.server, area = p.area, epoch = p.epoch,
    node = redis.call('HGET', key, 'node') or '', seq = p.seq,
    snapshot = snapshot and cjson.decode(snapshot) or nil, reason = p.reason, id = p.id or '', from = p.from or '',
    resync = p.resync or nil,
  }))
end
