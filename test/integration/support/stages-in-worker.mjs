// What a stage worker imports to build the test stages of stages.ts: tsx's hooks do not reach
// worker threads on Node 20, so the module registers them in its worker before loading the stages.
import { register } from 'tsx/esm/api';

register();
const stages = await import('./stages.ts');

export const countingStage = stages.countingStage;
