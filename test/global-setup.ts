import { testbed } from './testbed.js';

/** Stands up the shared test bed of real Docker hosts before the integration and end-to-end tiers. */
export async function setup(): Promise<void> {
  await testbed('up', '3');
}

/** Tears it down by pid unless HEAL_TESTBED_KEEP=1 (handy while iterating on one test file). */
export async function teardown(): Promise<void> {
  if (process.env.HEAL_TESTBED_KEEP === '1') return;
  await testbed('down');
}
