export { defaultConfig, type EdgeguardConfig, loadConfig } from '@edgeguard/config';
export { type ReplayOptions, type ReplayResult, replayLog } from './replay.js';
export { buildReport, renderSummary } from './report.js';
