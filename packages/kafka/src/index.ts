export * from './access-log-producer.js';
export * from './client.js';
export * from './codec.js';
export * from './environment.js';
export * from './operations.js';
export * from './stage-runner.js';
export * from './stage-service.js';
export * from './topics.js';
