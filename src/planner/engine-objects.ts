import type { IpamPool, Service, Stack } from '../spec/types.js';
import { LABEL } from './labels.js';
import type { IpamPoolConfig, NetworkCreate, VolumeCreate } from './plan-types.js';

/*
 * The stack's networks and volumes as the engine creates them, and which of them a set of
 * services needs on a host: read by the schedule (a plan's create-network and create-volume
 * actions) and by `heal run` (a one-off on a host that runs none of the stack yet).
 */

export function neededNetworks(stack: Stack, services: readonly Service[]): Set<string> {
  const names = services
    .filter((service) => service.networkMode === null)
    .flatMap((service) => service.networks.map((network) => network.name));
  return new Set(names.filter((name) => stack.networks[name] && !stack.networks[name].external).sort());
}

export function neededVolumes(stack: Stack, services: readonly Service[]): Set<string> {
  const names = services.flatMap((service) =>
    service.volumes.flatMap((mount) =>
      mount.type === 'volume' && mount.source !== null ? [mount.source] : [],
    ),
  );
  return new Set(names.filter((name) => stack.volumes[name] && !stack.volumes[name].external).sort());
}

export function networkCreate(stack: Stack, name: string): NetworkCreate {
  const network = stack.networks[name]!;
  return {
    Name: network.engineName,
    ...(network.driver === null ? {} : { Driver: network.driver }),
    ...(network.internal ? { Internal: true } : {}),
    ...(network.attachable ? { Attachable: true } : {}),
    ...(network.enableIpv6 ? { EnableIPv6: true } : {}),
    ...(Object.keys(network.driverOpts).length > 0 ? { Options: network.driverOpts } : {}),
    ...(network.ipam.driver !== null ||
    network.ipam.config.length > 0 ||
    Object.keys(network.ipam.options).length > 0
      ? {
          IPAM: {
            ...(network.ipam.driver === null ? {} : { Driver: network.ipam.driver }),
            Config: network.ipam.config.map(ipamEntry),
            ...(Object.keys(network.ipam.options).length > 0 ? { Options: network.ipam.options } : {}),
          },
        }
      : {}),
    Labels: {
      ...network.labels,
      [LABEL.stack]: stack.name,
      'com.docker.compose.project': stack.name,
      'com.docker.compose.network': name,
    },
    CheckDuplicate: true,
  };
}

/** compose writes `ip_range` and `aux_addresses`; the engine wants `IPRange` and `AuxiliaryAddresses`. */
export function ipamEntry(pool: IpamPool): IpamPoolConfig {
  return {
    ...(pool.subnet === undefined ? {} : { Subnet: pool.subnet }),
    ...(pool.gateway === undefined ? {} : { Gateway: pool.gateway }),
    ...(pool.ip_range === undefined ? {} : { IPRange: pool.ip_range }),
    ...(pool.aux_addresses === undefined ? {} : { AuxiliaryAddresses: pool.aux_addresses }),
  };
}

export function volumeCreate(stack: Stack, name: string): VolumeCreate {
  const volume = stack.volumes[name]!;
  return {
    Name: volume.engineName,
    ...(volume.driver === null ? {} : { Driver: volume.driver }),
    ...(Object.keys(volume.driverOpts).length > 0 ? { DriverOpts: volume.driverOpts } : {}),
    Labels: {
      ...volume.labels,
      [LABEL.stack]: stack.name,
      'com.docker.compose.project': stack.name,
      'com.docker.compose.volume': name,
    },
  };
}
