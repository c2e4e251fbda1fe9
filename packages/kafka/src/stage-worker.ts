// A stage worker (worker_threads): runs the tasks of some of the runner's partitions with the same
// InlineTasks the runner uses on its own thread. Batches come in and outputs go out as transferred
// ArrayBuffers (wire.ts); requests are answered one at a time, in the order they were posted.
import { parentPort, workerData } from 'node:worker_threads';
import type { StageFactory } from '@edgeguard/pipeline';
import type { StageWorkerData, WorkerReply, WorkerRequest } from './stage-pool.js';
import { InlineTasks } from './stage-task.js';
import { decodeWire, encodeOutputs, transferable } from './wire.js';

const port = parentPort!;
const data = workerData as StageWorkerData;

async function loadTasks(): Promise<InlineTasks> {
  const module = (await import(data.recipe.module)) as Record<string, unknown>;
  const build = module[data.recipe.export];
  if (typeof build !== 'function')
    throw new Error(`${data.recipe.module} has no function '${data.recipe.export}' to build the stage`);
  const factory = (await (build as (args: unknown) => StageFactory | Promise<StageFactory>)(
    data.recipe.args,
  )) as StageFactory;
  return new InlineTasks(factory, data.settings);
}

const ready = loadTasks();

function answer(tasks: InlineTasks, request: WorkerRequest): { reply: WorkerReply; transfer: ArrayBuffer[] } {
  switch (request.op) {
    case 'open': {
      const saved = request.saved === null ? null : Buffer.from(request.saved);
      return {
        reply: {
          req: request.req,
          opened: tasks.openNow(request.task, request.partition, saved, request.logEnd),
        },
        transfer: [],
      };
    }
    case 'process': {
      const { outputs, ...outcome } = tasks.processNow(
        request.task,
        request.topic,
        decodeWire(request.messages),
      );
      const encoded = encodeOutputs(outputs);
      return {
        reply: { req: request.req, processed: { ...outcome, outputs: encoded } },
        transfer: [encoded],
      };
    }
    case 'checkpoint': {
      const bytes = transferable(tasks.checkpointNow(request.task));
      return { reply: { req: request.req, checkpoint: bytes }, transfer: [bytes] };
    }
    case 'drop':
      tasks.drop(request.task);
      return { reply: { req: request.req, dropped: true }, transfer: [] };
  }
}

// One request at a time, in order: a batch never overlaps its task's checkpoint or drop.
let queue: Promise<unknown> = ready;
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(
    async () => {
      const tasks = await ready;
      try {
        const { reply, transfer } = answer(tasks, request);
        port.postMessage(reply, transfer);
      } catch (error) {
        port.postMessage({ req: request.req, error: (error as Error).stack ?? String(error) });
      }
    },
    () => undefined,
  );
});
// A stage that cannot be built fails the worker: the pool sees it exit and fails its requests.
ready.catch((error: Error) => {
  throw error;
});
