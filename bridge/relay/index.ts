// The parts of bridge/relay/ that the composition root builds (see ./README.md for what each owns).
export { TokenVerifier } from './auth.js';
export { ClientGateway } from './client-gateway.js';
export { InputRouter } from './input-router.js';
export { LinkKeeper } from './link-keeper.js';
export { ServerGateway } from './server-gateway.js';
export { ServerLinks } from './server-link.js';
export { createSocketServer } from './socket-server.js';
export { StateRouter } from './state-router.js';
