// The parts of bridge/authority/ that the composition root builds (see ./README.md for what each owns).
export { AuthorityCache } from './authority-cache.js';
export { AuthorityMap } from './authority-map.js';
export { AuthorityWriter } from './authority-writer.js';
export { CatchUp } from './catch-up.js';
export { loadScripts, loadWorldScripts } from './lua-scripts.js';
export { NodePresence } from './node-presence.js';
export { RedisClock } from './redis-clock.js';
export { redisDeployment, type RedisClient, type RedisDeployment } from './redis-connection.js';
export { WorldIncarnation } from './world-incarnation.js';
