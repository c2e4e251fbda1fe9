import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  encodeProduceRequest,
  fastProduceEligible,
  installKafkajsProduceEncoder,
} from '../src/produce-encoder.js';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('kafkajs/package.json'));
const v3Path = join(root, 'src/protocol/requests/produce/v3/request.js');
// kafkajs' own encoder, taken before the install below replaces the module's export.
const kafkajsV3 = require(v3Path) as (args: object) => { encode: () => Promise<{ buffer: Buffer }> };
const Long = require(join(root, 'src/utils/long.js')) as {
  fromInt(n: number): object;
  fromValue(n: unknown): object;
};

async function kafkajsBytes(args: object, now: number): Promise<Buffer> {
  const realNow = Date.now;
  Date.now = () => now;
  try {
    return (await kafkajsV3(args).encode()).buffer;
  } finally {
    Date.now = realNow;
  }
}

const now = 1_705_815_115_123;
const shapes: [string, object][] = [
  [
    'the shipper’s: null keys, Avro values, string headers, idempotent sequence',
    {
      acks: -1,
      timeout: 30_000,
      producerId: '4711', // as kafkajs' idempotent producer passes it (InitProducerId's int64 as text)
      producerEpoch: 3,
      topicData: [
        {
          topic: 'egtest.x.access-logs',
          partitions: [
            {
              partition: 0,
              firstSequence: 1234,
              messages: Array.from({ length: 5 }, (_, i) => ({
                key: null,
                value: randomBytes(100 + i * 300),
                headers: { 'eg-schema': 'ab'.repeat(32), 'eg-time': String(now + i) },
              })),
            },
            { partition: 5, firstSequence: 7, messages: [{ key: null, value: randomBytes(70_000) }] },
          ],
        },
      ],
    },
  ],
  [
    'keyed stage outputs: string and Buffer keys, string and null values, array and empty headers',
    {
      acks: 1,
      timeout: 5_000,
      topicData: [
        {
          topic: 'ç-topic',
          partitions: [
            {
              partition: 2,
              messages: [
                {
                  key: '203.0.113.7',
                  value: '{"é":1}',
                  headers: { a: ['x', Buffer.from([0, 255])], n: '' },
                },
                { key: Buffer.from('k'), value: null },
                { key: 'ip:198.51.100.1', value: Buffer.alloc(0), headers: {} },
              ],
            },
          ],
        },
        { topic: 'other', partitions: [{ partition: 0, messages: [{ value: 'v' }] }] },
      ],
    },
  ],
  [
    'transactional',
    {
      acks: -1,
      timeout: 1,
      transactionalId: 'tx-ü',
      producerId: Long.fromValue('9007199254740993'),
      producerEpoch: 1,
      topicData: [
        {
          topic: 't',
          partitions: [{ partition: 1, firstSequence: 0, messages: [{ key: 'a', value: 'b' }] }],
        },
      ],
    },
  ],
];

describe('produce request encoder', () => {
  for (const [name, args] of shapes)
    it(`writes exactly kafkajs’ bytes: ${name}`, async () => {
      assert.ok(fastProduceEligible(args as never));
      const ours = encodeProduceRequest(args as never, now);
      assert.deepEqual(ours, await kafkajsBytes(args, now));
    });

  it('leaves compressed requests, messages with timestamps and null headers to kafkajs', () => {
    const message = { key: null, value: 'v' };
    const topicData = [{ topic: 't', partitions: [{ partition: 0, messages: [message] }] }];
    assert.equal(fastProduceEligible({ acks: -1, timeout: 1, compression: 1, topicData }), false);
    const stamped = [
      { topic: 't', partitions: [{ partition: 0, messages: [{ ...message, timestamp: '5' }] }] },
    ];
    assert.equal(fastProduceEligible({ acks: -1, timeout: 1, topicData: stamped }), false);
    const nullHeader = [
      { topic: 't', partitions: [{ partition: 0, messages: [{ ...message, headers: { h: null } }] }] },
    ];
    assert.equal(fastProduceEligible({ acks: -1, timeout: 1, topicData: nullHeader }), false);
  });

  it('is what kafkajs’ produce request module returns once installed', async () => {
    const state = installKafkajsProduceEncoder();
    assert.ok(state === 'installed' || state === 'already', state);
    const installed = require(v3Path) as typeof kafkajsV3;
    assert.notEqual(installed, kafkajsV3);
    // Versions 4–7 wrap version 3: through them too, the same bytes as kafkajs.
    const v7 = require(join(root, 'src/protocol/requests/produce/v7/request.js')) as typeof kafkajsV3;
    const args = shapes[0]![1];
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const request = v7(args) as unknown as {
        apiVersion: number;
        encode: () => Promise<{ buffer: Buffer }>;
      };
      assert.equal(request.apiVersion, 7);
      assert.deepEqual((await request.encode()).buffer, await kafkajsBytes(args, now));
    } finally {
      Date.now = realNow;
    }
  });
});
