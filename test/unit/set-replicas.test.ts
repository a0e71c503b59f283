/**
 * `heal scale`'s edit of the spec file: only the services named change, what they merged is kept,
 * comments and layout stay. Each result is read back with heal's own YAML reader (merge keys
 * resolved), so the assertions are on what the spec means, plus the text where layout matters.
 */
import { describe, expect, it } from 'vitest';
import { setReplicas } from '../../src/cli/set-replicas.js';
import { parseYaml } from '../../src/spec/parse.js';

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

type Tree = { services: Record<string, { deploy?: Record<string, unknown>; scale?: number }> };

function read(text: string): Tree['services'] {
  const parsed = parseYaml(text);
  expect(parsed.problems).toEqual([]);
  return (parsed.tree as Tree).services;
}

describe('setReplicas', () => {
  it('replaces a number the service owns in the text itself: every other byte stays', () => {
    const text = yaml(
      'services:',
      '  web:',
      '    image: nginx # the front',
      '    deploy:',
      '      replicas:   2   # tuned by hand',
      '      placement: { constraints: ["node.labels.zone == a"] }',
      '  worker: { image: busybox, scale: 3 }',
    );
    expect(
      setReplicas(text, [
        ['web', 12],
        ['worker', 4],
      ]),
    ).toBe(text.replace('replicas:   2', 'replicas:   12').replace('scale: 3', 'scale: 4'));
  });

  it('keeps a deploy: merged from an anchor, and scales only the service named', () => {
    const text = yaml(
      'x-common: &common',
      '  image: registry.example.com/app:1',
      '  # every service of the app runs in zone a, within limits',
      '  deploy:',
      '    replicas: 2',
      '    placement: { constraints: ["node.labels.zone == a"] }',
      '    resources: { limits: { memory: 128M } }',
      'services:',
      '  web:',
      '    <<: *common',
      '    ports: ["80:8080"] # public',
      '  worker:',
      '    <<: *common',
    );
    const out = setReplicas(text, [['web', 5]]);
    const services = read(out);
    expect(services.web!.deploy).toEqual({
      replicas: 5,
      placement: { constraints: ['node.labels.zone == a'] },
      resources: { limits: { memory: '128M' } },
    });
    expect(services.worker!.deploy).toEqual({ ...services.web!.deploy, replicas: 2 });
    // Two insertions, nothing else: the merged deploy's anchor, and the service's own deploy.
    expect(out).toBe(
      text
        .replace('  deploy:\n    replicas: 2', '  deploy: &common-deploy\n    replicas: 2')
        .replace('# public\n', '# public\n    deploy: { <<: *common-deploy, replicas: 5 }\n'),
    );
  });

  it('merges a deploy: the service aliases, with its own replicas over it', () => {
    const text = yaml(
      'x-deploy: &deploy { replicas: 2, placement: { max_replicas_per_node: 1 } }',
      'services:',
      '  web: { image: nginx, deploy: *deploy }',
      '  worker: { image: busybox, deploy: *deploy }',
    );
    const out = setReplicas(text, [['worker', 7]]);
    const services = read(out);
    expect(services.worker!.deploy).toEqual({ replicas: 7, placement: { max_replicas_per_node: 1 } });
    expect(services.web!.deploy).toEqual({ replicas: 2, placement: { max_replicas_per_node: 1 } });
    expect(out).toContain('worker: { image: busybox, deploy: { <<: *deploy, replicas: 7 } }');
  });

  it('adds replicas over a deploy: { <<: *x } the service owns', () => {
    const text = yaml(
      'x-deploy: &deploy { replicas: 2, placement: { max_replicas_per_node: 1 } }',
      'services:',
      '  web:',
      '    image: nginx',
      '    deploy:',
      '      <<: *deploy',
      '      labels: { tier: front }',
    );
    const services = read(setReplicas(text, [['web', 3]]));
    expect(services.web!.deploy).toEqual({
      replicas: 3,
      placement: { max_replicas_per_node: 1 },
      labels: { tier: 'front' },
    });
  });

  it('does not scale the services that alias a deploy: map the scaled one defines', () => {
    const text = yaml(
      'services:',
      '  web:',
      '    image: nginx',
      '    deploy: &deploy # shared',
      '      replicas: 2',
      '      placement: { constraints: ["node.labels.zone == a"] }',
      '  worker: { image: busybox, deploy: *deploy }',
    );
    const out = setReplicas(text, [['web', 9]]);
    expect(out).toBe(
      yaml(
        'services:',
        '  web:',
        '    image: nginx',
        '    deploy:',
        '      <<: &deploy # shared',
        '        replicas: 2',
        '        placement: { constraints: ["node.labels.zone == a"] }',
        '      replicas: 9',
        '  worker: { image: busybox, deploy: *deploy }',
      ),
    );
    const services = read(out);
    expect(services.web!.deploy).toEqual({
      replicas: 9,
      placement: { constraints: ['node.labels.zone == a'] },
    });
    expect(services.worker!.deploy).toEqual({
      replicas: 2,
      placement: { constraints: ['node.labels.zone == a'] },
    });
  });

  it('does not scale the services that merge the scaled service itself', () => {
    const text = yaml(
      'services:',
      '  web: &web',
      '    image: nginx',
      '    deploy: { replicas: 2, resources: { limits: { cpus: "0.5" } } }',
      '  canary:',
      '    <<: *web',
      '    image: nginx:next',
    );
    const out = setReplicas(text, [['web', 4]]);
    expect(out).toBe(
      yaml(
        'services:',
        '  web:',
        '    <<: &web',
        '      image: nginx',
        '      deploy: &web-deploy { replicas: 2, resources: { limits: { cpus: "0.5" } } }',
        '    deploy: { <<: *web-deploy, replicas: 4 }',
        '  canary:',
        '    <<: *web',
        '    image: nginx:next',
      ),
    );
    const services = read(out);
    expect(services.web).toEqual({
      image: 'nginx',
      deploy: { replicas: 4, resources: { limits: { cpus: '0.5' } } },
    });
    expect(services.canary).toEqual({
      image: 'nginx:next',
      deploy: { replicas: 2, resources: { limits: { cpus: '0.5' } } },
    });
  });

  it('adds deploy.replicas to a service without one, as a last line or a last flow key', () => {
    const text = yaml(
      'services:',
      '  # the front',
      '  web:',
      '    image: nginx # pinned later',
      '  db: { image: postgres }',
      '  cache:',
      '    image: redis',
      '    deploy:',
      '      placement: { max_replicas_per_node: 1 }',
    );
    expect(
      setReplicas(text, [
        ['web', 2],
        ['db', 1],
        ['cache', 3],
      ]),
    ).toBe(
      text
        .replace('# pinned later\n', '# pinned later\n    deploy: { replicas: 2 }\n')
        .replace('{ image: postgres }', '{ image: postgres, deploy: { replicas: 1 } }')
        .replace('max_replicas_per_node: 1 }\n', 'max_replicas_per_node: 1 }\n      replicas: 3\n'),
    );
  });
});
