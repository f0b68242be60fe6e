// The parts of bridge/interest/ that the composition root builds (see ./README.md for what each owns).
export { AreaChannels } from './area-channels.js';
export { ClientInterest } from './client-interest.js';
export { ServerWatches } from './server-watches.js';
