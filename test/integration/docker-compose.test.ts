// docker-compose.yml cannot run here (no Docker engine); this checks that everything it names exists:
// services and their commands, the image's entry point, the variables the code reads, the ports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';

const root = new URL('../../', import.meta.url).pathname;
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      command?: string[];
      environment?: Record<string, string>;
      depends_on?: Record<string, unknown>;
      ports?: string[];
      healthcheck?: { test: string[] };
    }
  >;
};
const bin = join(root, 'packages/cli/bin/edgeguard.js');

/** Every `process.env.NAME` the project's sources read. */
function variablesReadByCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const full = join(dir, entry);
      if (entry === 'node_modules' || entry === 'dist' || entry === 'test') continue;
      if (statSync(full).isDirectory()) walk(full);
      else if (full.endsWith('.ts'))
        // `env.NAME`, and `reader(env, 'NAME', …)` (the checked number and switch readers).
        for (const m of readFileSync(full, 'utf8').matchAll(/\benv(?:\.|, ')([A-Z][A-Z0-9_]+)/g))
          names.add(m[1]!);
    }
  };
  walk(join(root, 'packages'));
  walk(join(root, 'services'));
  return names;
}

describe('docker-compose.yml', () => {
  const ours = Object.entries(compose.services).filter(
    ([, s]) => s.image?.startsWith('edgeguard') || s.build !== undefined,
  );

  it('builds every edgeguard service from the one Dockerfile whose entry point is the edgeguard bin', () => {
    assert.ok(existsSync(join(root, 'Dockerfile')));
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /ENTRYPOINT \["node", "\/app\/packages\/cli\/bin\/edgeguard\.js"\]/);
    assert.ok(ours.length >= 5, 'shipper, profiler, content-watch, decider, topics');
  });

  it('runs only commands and services the edgeguard bin has', () => {
    for (const [name, service] of ours) {
      const command = service.command ?? [];
      if (command[0] === '--help' || command.length === 0) continue;
      const help = spawnSync(process.execPath, [bin, command[0]!, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, `${name}: 'edgeguard ${command[0]}' is not a command: ${help.stderr}`);
      if (command[0] === 'run')
        assert.match(
          help.stdout,
          new RegExp(`\\b${command[1]}\\b`),
          `${name}: unknown service ${command[1]}`,
        );
      for (const flag of command.filter((c) => c.startsWith('--')))
        assert.match(help.stdout, new RegExp(flag), `${name}: ${flag}`);
    }
  });

  it('sets only variables the code reads, and the ones a service needs', () => {
    const read = variablesReadByCode();
    for (const [name, service] of ours) {
      for (const variable of Object.keys(service.environment ?? {})) {
        assert.ok(read.has(variable), `${name} sets ${variable}, which no edgeguard code reads`);
      }
      for (const needed of ['KAFKA_BROKERS', 'EDGEGUARD_TOPIC_PREFIX'])
        assert.ok(service.environment?.[needed], `${name} lacks ${needed}`);
    }
  });

  it('depends only on services it defines, and health-checks the port the services listen on', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(service.depends_on ?? {}))
        assert.ok(compose.services[dependency], `${name} depends on unknown ${dependency}`);
    }
    for (const [name, service] of ours) {
      const check = service.healthcheck?.test.join(' ') ?? '';
      if (!check) continue;
      // The api serves /readyz on its own port; the stage services on EDGEGUARD_HEALTH_PORT.
      const port = service.environment?.EDGEGUARD_API_PORT ?? service.environment?.EDGEGUARD_HEALTH_PORT;
      assert.match(check, new RegExp(`:${port}/readyz`), `${name}: health check port`);
      if (service.environment?.EDGEGUARD_API_PORT)
        assert.ok(service.ports?.includes(`${port}:${port}`), `${name}: publishes the API port ${port}`);
    }
    assert.deepEqual(compose.services.kafka?.ports, ['9092:9092']);
    assert.match(compose.services.kafka?.image ?? '', /^apache\/kafka:3\.9/);
  });
});
