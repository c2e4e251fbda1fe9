import { detectionAllowlist, type EdgeguardConfig } from '@edgeguard/config';
import { runTopologyStage } from '@edgeguard/kafka';

/**
 * The `profiler` service: the topology's `profiler` stage over Kafka (one consumer group, scaled
 * by partitions). `workers`: threads that run its partitions (`--workers`; default
 * `EDGEGUARD_WORKERS`, else 0).
 */
export function runProfiler(config: EdgeguardConfig, service: { workers?: number } = {}): Promise<void> {
  return runTopologyStage(
    'profiler',
    { detect: config.detect, allowlist: detectionAllowlist(config) },
    service,
  );
}
