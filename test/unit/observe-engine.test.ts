import { describe, expect, it } from 'vitest';
import { engineLabels } from '../../src/executor/observe.js';

describe('engineLabels', () => {
  it("reads docker info's Labels (key=value, split at the first =) and skips what is not a label", () => {
    expect(engineLabels(['disk=ssd', 'url=http://x/?a=b', 'empty=', '=nokey', 'bare', 7])).toEqual({
      disk: 'ssd',
      url: 'http://x/?a=b',
      empty: '',
    });
    expect(engineLabels(null)).toEqual({});
  });
});
