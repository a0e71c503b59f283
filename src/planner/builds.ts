import type { Service, Stack } from '../spec/types.js';
import type { ObservedHost } from './observed.js';
import type { Action } from './plan-types.js';

/** An image action and when it runs: builds first, then copies, then (with prepare) pulls. */
export type ImageDraft = { readonly action: Action; readonly stage: 'build' | 'copy' | 'pull' };

/**
 * How the images of services with `build:` reach the hosts that will run them (`needs`: per
 * service, the hosts where this plan creates or replaces a replica). An image is built only when
 * a host needs it and no host has it: on the build host (`x-heal.build.host`, or the first
 * reachable host of `x-heal.hosts`). Without a registry in `image:`, it is then copied from a host
 * that has it to each that needs it; with one, built and pushed (or found there), and pulled.
 * Pure: what each host holds comes from observe (`images`).
 */
export function planBuilds(
  stack: Stack,
  usable: readonly ObservedHost[],
  needs: ReadonlyMap<Service, ReadonlySet<string>>,
): { drafts: ImageDraft[]; warnings: string[] } {
  const drafts: ImageDraft[] = [];
  const warnings: string[] = [];
  const byName = new Map(usable.map((host) => [host.name, host]));
  const builder =
    stack.heal.build.host ?? Object.keys(stack.heal.hosts).find((name) => byName.has(name)) ?? null;
  for (const [service, hosts] of [...needs].sort(([a], [b]) => (a.name < b.name ? -1 : 1))) {
    const build = service.build;
    if (!build) continue;
    const image = service.image;
    const lacking = [...hosts].filter((name) => !hasImage(byName.get(name), image)).sort();
    if (lacking.length === 0) continue;
    const base = { phase: 0, service: service.name, slot: null } as const;
    if (build.source === null)
      throw new Error(`plan: ${service.name}'s build was not resolved (loadStack with builds: 'resolve')`);
    const short = build.source.commit.slice(0, 12);
    const context = build.source.path === '' ? 'the repository' : build.source.path;
    if (builder === null) {
      warnings.push(`${service.name}: no reachable host can build ${image}`);
      continue;
    }
    if (!byName.has(builder))
      warnings.push(`${service.name}: the build host ${builder} (x-heal.build.host) is not reachable`);
    if (build.push) {
      drafts.push({
        stage: 'build',
        action: {
          ...base,
          kind: 'build',
          host: builder,
          image,
          build,
          reason: `${image} is not on ${lacking.join(', ')}: built from ${context} at ${short} (${build.source.files} files) unless ${registryOf(image)} has it, and pushed there`,
        },
      });
      // The build host pulls or builds it itself.
      for (const host of lacking.filter((name) => name !== builder))
        drafts.push({
          stage: 'pull',
          action: {
            ...base,
            kind: 'pull',
            host,
            image,
            reason: `${image} is not on ${host} (built on ${builder})`,
          },
        });
      continue;
    }
    const holders = usable.filter((host) => hasImage(host, image)).map((host) => host.name);
    const from = holders.includes(builder) ? builder : (holders.sort()[0] ?? builder);
    if (holders.length === 0)
      drafts.push({
        stage: 'build',
        action: {
          ...base,
          kind: 'build',
          host: builder,
          image,
          build,
          reason: `no host has ${image}: built from ${context} at ${short} (${build.source.files} files)`,
        },
      });
    for (const host of lacking.filter((name) => name !== from))
      drafts.push({
        stage: 'copy',
        action: {
          ...base,
          kind: 'copy-image',
          host,
          image,
          from,
          reason: `${image} is not on ${host}: copied from ${from}`,
        },
      });
  }
  return { drafts, warnings };
}

function hasImage(host: ObservedHost | undefined, image: string): boolean {
  return host !== undefined && host.images.includes(image);
}

function registryOf(image: string): string {
  return image.slice(0, image.indexOf('/'));
}
