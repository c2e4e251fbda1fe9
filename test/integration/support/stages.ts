// Small stages for the runtime's own tests, in a module of their own so that stage worker threads
// can build them too (StageRecipe): the same stage inline and in workers.
import { existsSync, writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { type StageFactory, TOPICS } from '@edgeguard/pipeline';
import type { AccessLog } from '@edgeguard/schema';

export interface CountingOptions {
  /**
   * A stage worker that meets a `/crash` record exits on the spot, once: when this file does not
   * exist yet (it is created then). Never on the runner's own thread.
   */
  crashFlag?: string;
  /** Outputs per record (each numbered): a configuration that changes how many a record yields. Default 1. */
  emits?: number;
}

/**
 * Emits one `alerts` value per access-log record (`emits` of them): its path and its number on the partition. A
 * record whose path is `/throw` makes the stage throw (its dead letter is the record alone).
 */
export function countingStage(options: CountingOptions = {}): StageFactory {
  return {
    name: 'counting',
    inputs: [TOPICS.accessLogs],
    create: () => {
      let n = 0;
      return {
        name: 'counting',
        process: (message, out) => {
          const log = message.value as AccessLog;
          if (log.path === '/throw') throw new Error('injected: the stage cannot process this record');
          if (log.path === '/crash' && options.crashFlag && !isMainThread && !existsSync(options.crashFlag)) {
            writeFileSync(options.crashFlag, 'crashed');
            process.exit(7);
          }
          for (let i = 0; i < (options.emits ?? 1); i++) {
            n++;
            out.emit(TOPICS.alerts, `${log.path}`, { path: log.path, n }, log.time);
          }
        },
      };
    },
  };
}
