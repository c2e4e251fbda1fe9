import type { EdgeguardConfig } from '@edgeguard/config';
import { runTopologyStage } from '@edgeguard/kafka';

/** The `profiler` service: the topology's `profiler` stage over Kafka (one consumer group, scaled by partitions). */
export function runProfiler(config: EdgeguardConfig): Promise<void> {
  return runTopologyStage('profiler', { detect: config.detect, allowlist: config.allowlist });
}
