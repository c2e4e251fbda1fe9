import type { EdgeguardConfig } from '@edgeguard/config';
import { runTopologyStage } from '@edgeguard/kafka';

/** The `decider` service: the topology's `decider` stage over Kafka (one consumer group, scaled by partitions). */
export function runDecider(config: EdgeguardConfig): Promise<void> {
  return runTopologyStage('decider', { detect: config.detect, allowlist: config.allowlist });
}
