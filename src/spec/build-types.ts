/**
 * A service's `build:`, normalized. heal builds the committed files of the repository holding
 * the spec, through one host's engine (the classic builder of `POST /build`), and tags the image
 * with a digest of what went in (build-source.ts), so the same context is never built twice.
 */
export type ServiceBuild = {
  /** The context folder as written, relative to the spec's folder (`.` by default). */
  readonly context: string;
  /** The Dockerfile's path inside the context. */
  readonly dockerfile: string;
  /** `dockerfile_inline`: the Dockerfile's text, sent in place of the context's file. */
  readonly dockerfileInline: string | null;
  readonly args: Readonly<Record<string, string>>;
  readonly target: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** The network RUN steps use (`network:`), as `docker build --network`. */
  readonly network: string | null;
  readonly shmSize: number | null;
  readonly noCache: boolean;
  /** Pull a newer base image on every build (`pull: true`). */
  readonly pull: boolean;
  /**
   * The image's repository (no tag): `image:` without its tag, or `heal.local/<stack>/<service>`
   * when the service has no `image:`.
   */
  readonly repository: string;
  /**
   * `image:` names a registry (`registry.example.com/app`, `10.0.0.1:5000/app`): the build is
   * pushed there and hosts pull it. Otherwise heal copies it from the build host to each host.
   */
  readonly push: boolean;
  /** The committed files the image is built from; null until build-source.ts resolved them. */
  readonly source: BuildSource | null;
};

/** The context at one commit: what the build host receives, and what the tag is derived from. */
export type BuildSource = {
  /** The repository's top folder on this machine. */
  readonly repository: string;
  /** The commit built (full sha). */
  readonly commit: string;
  /** The context's path inside the repository (posix, `` for its top). */
  readonly path: string;
  /** Files sent, after `.dockerignore`. */
  readonly files: number;
  /** The digest of the files' blob ids and modes and the build options: the image's tag. */
  readonly tag: string;
};

/** `x-heal.build`. */
export type BuildConfig = {
  /** The host whose engine builds; null: the first reachable host of `x-heal.hosts`. */
  readonly host: string | null;
};
