// The parts of bridge/ops/ that the composition root builds (see ./README.md for what each owns).
export { createHttpApi } from './http-api.js';
export { EdgeGuard, FaultBudget, createHttpServer } from './edge-guard.js';
export { NetworkListing } from './network-listing.js';
export { createLogger } from './logger.js';
export { Metrics } from './metrics.js';
export { RecentChanges } from './recent-changes.js';
