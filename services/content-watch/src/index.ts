import type { EdgeguardConfig } from '@edgeguard/config';
import { runTopologyStage } from '@edgeguard/kafka';

/** The `content-watch` service: the topology's `content-watch` stage over Kafka (one consumer group, scaled by partitions). */
export function runContentWatch(config: EdgeguardConfig): Promise<void> {
  return runTopologyStage('content-watch', { detect: config.detect, allowlist: config.allowlist });
}
