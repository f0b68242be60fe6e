// The parts of bridge/sync/ that the composition root builds (see ./README.md for what each owns).
export { RedisChunkStore } from './chunk-store.js';
export { WorldSync } from './world-sync.js';
