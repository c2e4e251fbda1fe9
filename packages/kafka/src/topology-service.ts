import { createTopology, TOPICS, type TopologyOptions } from '@edgeguard/pipeline';
import { runStageService } from './stage-service.js';

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
 * topology is built for the partition count of the deployed `access-logs` topic.
 */
export function runTopologyStage(
  name: StageName,
  options: Omit<TopologyOptions, 'partitions'>,
): Promise<void> {
  return runStageService({
    name,
    outputs: [...STAGE_OUTPUTS[name]],
    createStage: (partitions) => {
      const { topology } = createTopology({ ...options, partitions: partitions[TOPICS.accessLogs] ?? 1 });
      const stage = topology.stages.find((s) => s.name === name);
      if (!stage) throw new Error(`the topology has no stage '${name}'`);
      return stage;
    },
  });
}
