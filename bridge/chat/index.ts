// The parts of bridge/chat/ that the composition root builds (see ./README.md for what each owns).
export { ChatRelay } from './chat-relay.js';
export { ChatStore } from './chat-store.js';
