// The parts of bridge/mesh/ that the composition root builds (see ./README.md for what each owns).
export { ControlPlane } from './control-plane.js';
export { FailureWatch } from './failure-watch.js';
export { MeshPlanner } from './mesh-planner.js';
export { Placement } from './placement.js';
export { Transfers } from './transfer.js';
