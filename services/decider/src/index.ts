import { detectionAllowlist, type EdgeguardConfig } from '@edgeguard/config';
import { AllowlistTimeline } from '@edgeguard/detect';
import {
  AllowlistFollower,
  type Companion,
  runStageService,
  STAGE_OUTPUTS,
  StoreWriter,
  switchVariable,
} from '@edgeguard/kafka';
import { createTopology, TOPICS } from '@edgeguard/pipeline';

/**
 * Whether the decider keeps the Redis decision store (`EDGEGUARD_DECISION_STORE`, default on;
 * `off`, `0` or `false` for a deployment without Redis-backed serving).
 */
export function decisionStoreEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return switchVariable(env, 'EDGEGUARD_DECISION_STORE', true);
}

/**
 * The `decider` service: the topology's `decider` stage over Kafka (one consumer group, scaled by
 * partitions), following the operator's `allowlist` topic; beside it, the store writer keeps the
 * Redis decision store equal to the `decisions` and `allowlist` topics.
 */
export function runDecider(config: EdgeguardConfig): Promise<void> {
  const keepStore = decisionStoreEnabled(); // refused before connecting when it is neither on nor off
  const timeline = new AllowlistTimeline();
  return runStageService({
    name: 'decider',
    outputs: [...STAGE_OUTPUTS.decider],
    createStage: (partitions) => {
      const { topology } = createTopology({
        detect: config.detect,
        allowlist: detectionAllowlist(config),
        partitions: partitions[TOPICS.accessLogs] ?? 1,
        allowlistTimeline: timeline,
      });
      const stage = topology.stages.find((s) => s.name === 'decider');
      if (!stage) throw new Error("the topology has no stage 'decider'");
      return stage;
    },
    companions: ({ kafka, redis, logger, metrics, environment }) => {
      const onFatal = (error: Error) => {
        logger.fatal(
          { error: error.message },
          'consumer failed for good: exiting so that the service is restarted',
        );
        process.exit(1);
      };
      // Started before the stage consumes: a restarted decider replays its input with the entries.
      const companions: Companion[] = [
        new AllowlistFollower({
          kafka,
          prefix: environment.topicPrefix,
          logger,
          metrics,
          onChange: (entries) => timeline.set(entries),
          onFatal,
        }),
      ];
      if (keepStore) {
        companions.push(
          new StoreWriter({ kafka, redis, prefix: environment.topicPrefix, logger, metrics, onFatal }),
        );
      } else {
        logger.info('decision store disabled (EDGEGUARD_DECISION_STORE=off)');
      }
      return companions;
    },
  });
}
