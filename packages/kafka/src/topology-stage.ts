import { createTopology, type StageFactory, type TopologyOptions } from '@edgeguard/pipeline';

/** What builds one stage of the topology: plain data, so that a stage worker can build it too. */
export interface TopologyStageArgs {
  name: string;
  options: Omit<TopologyOptions, 'partitions'>;
  /** Partitions of the deployed `access-logs` topic. */
  accessLogPartitions: number;
}

/**
 * One stage of the topology `edgeguard replay` runs in-process, for the partition count of the
 * deployed topics. Kept apart from the service shell: stage workers import this module alone.
 */
export function topologyStage(args: TopologyStageArgs): StageFactory {
  const { topology } = createTopology({ ...args.options, partitions: args.accessLogPartitions });
  const stage = topology.stages.find((s) => s.name === args.name);
  if (!stage) throw new Error(`the topology has no stage '${args.name}'`);
  return stage;
}
