import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openFleet } from '../../src/executor/fleet.js';
import { observe } from '../../src/executor/observe.js';
import { loadStack } from '../../src/spec/load.js';
import { startFakeEngine } from './fake-engine.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-observe-volumes-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

it("reads the stack key and rollout marks from the volume list, never as the stack's named volumes", async () => {
  const engine = await startFakeEngine('h1', join(folder, 'h1.sock'));
  const key = '3c'.repeat(32);
  engine.addVolume('app_data', { 'io.heal.stack': 'app' });
  engine.addVolume('app_heal-key_0123456789ab', { 'io.heal.stack': 'app', 'io.heal.key': key });
  engine.addVolume('app_heal-key_tampered', { 'io.heal.stack': 'app', 'io.heal.key': 'guess' });
  engine.addVolume('app_heal-key_empty', { 'io.heal.stack': 'app', 'io.heal.key': '' });
  engine.addVolume('app_heal-paused_web_abc', {
    'io.heal.stack': 'app',
    'io.heal.service': 'web',
    'io.heal.config-hash': 'v2:abc',
    'io.heal.rollout': 'paused',
    'io.heal.reason': 'failed',
  });
  writeFileSync(
    join(folder, 'stack.yml'),
    `name: app\nx-heal: { hosts: { h1: { docker: "unix://${join(folder, 'h1.sock')}" } } }\nservices: { web: { image: nginx } }\n`,
  );
  const stack = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} });
  const fleet = openFleet(stack, {});
  try {
    const [host] = (await observe(stack, fleet.reach, Date.now)).hosts;
    expect(host!.error).toBeNull();
    expect(host!.volumes).toEqual(['app_data']);
    expect(host!.stackKeys).toEqual([
      { name: 'app_heal-key_0123456789ab', key },
      { name: 'app_heal-key_tampered', key: null },
      { name: 'app_heal-key_empty', key: null },
    ]);
    expect(host!.marks.map((mark) => mark.name)).toEqual(['app_heal-paused_web_abc']);
  } finally {
    await fleet.close();
    await engine.close();
  }
});
