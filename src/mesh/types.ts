/**
 * The routing mesh's words as types. Everything in src/mesh is pure: the executor fills these
 * from what the hosts report, and runs what the functions here return.
 */

/** How a listener's traffic is proxied: any TCP protocol, or HTTP with `X-Forwarded-For`. */
export type ListenerMode = 'tcp' | 'http';

/** PROXY protocol header sent to the replicas: opt-in per port, for TCP services that read it. */
export type ProxyProtocol = 'v1' | 'v2' | null;

/**
 * One container port of a service that the mesh serves: the proxy listens on `target` (so the
 * service's name and target port reach it from any container of the stack) and the host
 * publishes it on each `published` port (north-south).
 */
export type MeshListener = {
  readonly service: string;
  readonly target: number;
  readonly published: readonly PublishedPort[];
  readonly mode: ListenerMode;
  readonly proxyProtocol: ProxyProtocol;
};

export type PublishedPort = {
  readonly port: number;
  /** Bind the published port on this host address only; null: every address of the host. */
  readonly hostIp: string | null;
};

/** What the mesh needs to know about one service of the stack. */
export type MeshService = {
  readonly name: string;
  readonly listeners: readonly MeshListener[];
  /**
   * The engine name of the network the proxy reaches local replicas on: the service's first
   * network, which its replicas and its proxy both join.
   */
  readonly network: string;
};

/**
 * A host as the mesh sees it. `unreachable`: heal cannot tell what runs there, so the proxies keep
 * its members as they are (their own health checks take a dead host out in `fall × inter`);
 * `down`: declared down, its replicas are gone and leave every proxy.
 */
export type MeshHost = {
  readonly name: string;
  readonly status: 'up' | 'unreachable' | 'down';
  /** The host's internal address (an IP); null: its replicas cannot be reached from other hosts. */
  readonly address: string | null;
};

/** One replica as the hosts report it, with what the mesh needs to reach it. */
export type MeshReplica = {
  readonly id: string;
  readonly host: string;
  readonly service: string;
  readonly slot: number;
  readonly state: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  readonly health: 'none' | 'starting' | 'healthy' | 'unhealthy';
  /** The replica's addresses, by network engine name. */
  readonly addresses: Readonly<Record<string, string>>;
  /** The ephemeral host ports the engine chose for its target ports (tcp). */
  readonly ports: readonly EphemeralPort[];
};

export type EphemeralPort = { readonly target: number; readonly hostPort: number };

/** The world one plan sees: hosts, the replicas on them, and which are about to stop. */
export type MeshWorld = {
  readonly hosts: readonly MeshHost[];
  readonly replicas: readonly MeshReplica[];
  /** Replicas the plan is going to stop or replace: drained, never added. */
  readonly leaving: ReadonlySet<string>;
};

/** A member's administrative state in a proxy: `ready` takes new connections, `drain` does not. */
export type MemberState = 'ready' | 'drain';

/** One replica as a server of one backend of one host's proxy. */
export type Member = {
  /** The HAProxy server name: unique per replica (see server-name.ts). */
  readonly server: string;
  readonly replica: string;
  readonly address: string;
  readonly port: number;
  readonly state: MemberState;
};

/** One backend of a host's proxy (one listener of a service) and the members it should have. */
export type Backend = {
  readonly name: string;
  readonly listener: MeshListener;
  readonly members: readonly Member[];
};

/** What one host's proxy for one service should hold. */
export type ProxyMembership = {
  readonly host: string;
  readonly service: string;
  readonly backends: readonly Backend[];
  /** Hosts heal cannot see now: servers of their replicas stay as they are. */
  readonly unknownHosts: readonly string[];
};
