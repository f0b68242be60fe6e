// The parts of bridge/sessions/ that the composition root builds (see ./README.md for what each owns).
export { ClientSessions } from './client-session.js';
export { InputHolds } from './input-holds.js';
export { SessionLifecycle } from './session-lifecycle.js';
export { SlowClients } from './slow-clients.js';
