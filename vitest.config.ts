import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // Integration and end-to-end tiers share one test bed: run files one at a time.
    fileParallelism: false,
  },
});
