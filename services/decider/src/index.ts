import { detectionAllowlist, type EdgeguardConfig } from '@edgeguard/config';
import { AllowlistTimeline } from '@edgeguard/detect';
import {
  AlertWebhook,
  AllowlistFollower,
  alertWebhookSettings,
  type Companion,
  GuardMonitor,
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
 * Redis decision store equal to the `decisions` and `allowlist` topics. The blast-radius guard's
 * hold and alerts are on /metrics and in the log (GuardMonitor), and with
 * `EDGEGUARD_ALERT_WEBHOOK_URL` the alerts are POSTed to a webhook (AlertWebhook).
 */
export function runDecider(config: EdgeguardConfig): Promise<void> {
  // Refused before connecting: a switch that is neither on nor off, a webhook that is not http(s).
  const keepStore = decisionStoreEnabled();
  const webhook = alertWebhookSettings();
  const timeline = new AllowlistTimeline();
  let guard: GuardMonitor | undefined;
  return runStageService({
    name: 'decider',
    outputs: [...STAGE_OUTPUTS.decider],
    onSent: (topic, messages) => guard?.sent(topic, messages),
    createStage: (partitions, { metrics, logger }) => {
      const { topology } = createTopology({
        detect: config.detect,
        allowlist: detectionAllowlist(config),
        partitions: partitions[TOPICS.accessLogs] ?? 1,
        allowlistTimeline: timeline,
      });
      const stage = topology.stages.find((s) => s.name === 'decider');
      if (!stage) throw new Error("the topology has no stage 'decider'");
      guard = new GuardMonitor({ metrics, logger });
      return guard.watch(stage);
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
      if (webhook !== null) {
        companions.push(
          new AlertWebhook({ kafka, prefix: environment.topicPrefix, logger, metrics, settings: webhook }),
        );
      }
      return companions;
    },
  });
}
