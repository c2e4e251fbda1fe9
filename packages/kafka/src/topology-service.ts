import { TOPICS, type TopologyOptions } from '@edgeguard/pipeline';
import { runStageService } from './stage-service.js';
import { type TopologyStageArgs, topologyStage } from './topology-stage.js';

/**
 * Topics each stage writes that another stage reads: end-of-input markers follow these (and only
 * these: `decisions` and `cache-policies` are compacted, where a keyless marker is invalid, and
 * their readers are not stages).
 */
export const STAGE_OUTPUTS = {
  profiler: [TOPICS.contentPartials, TOPICS.signals],
  'content-watch': [],
  decider: [],
} as const;

export type StageName = keyof typeof STAGE_OUTPUTS;

/**
 * Runs one stage of the same topology `edgeguard replay` runs in-process, over Kafka: the
 * topology is built for the partition count of the deployed `access-logs` topic. `workers`: stage
 * worker threads (default `EDGEGUARD_WORKERS`, see stage-service.ts).
 */
export function runTopologyStage(
  name: StageName,
  options: Omit<TopologyOptions, 'partitions'>,
  service: { workers?: number } = {},
): Promise<void> {
  const args = (partitions: Record<string, number>): TopologyStageArgs => ({
    name,
    options,
    accessLogPartitions: partitions[TOPICS.accessLogs] ?? 1,
  });
  return runStageService({
    name,
    outputs: [...STAGE_OUTPUTS[name]],
    createStage: (partitions) => topologyStage(args(partitions)),
    workers: service.workers,
    recipe: (partitions) => ({
      module: new URL('./topology-stage.js', import.meta.url).href,
      export: 'topologyStage',
      args: args(partitions),
    }),
  });
}
