import { detectionAllowlist, type EdgeguardConfig } from '@edgeguard/config';
import { runTopologyStage } from '@edgeguard/kafka';

/**
 * The `content-watch` service: the topology's `content-watch` stage over Kafka (one consumer
 * group, scaled by partitions). `workers`: as for the profiler.
 */
export function runContentWatch(config: EdgeguardConfig, service: { workers?: number } = {}): Promise<void> {
  return runTopologyStage(
    'content-watch',
    { detect: config.detect, allowlist: detectionAllowlist(config) },
    service,
  );
}
