import { Command } from 'commander';
import { UsageError } from '../errors.js';

type Options = {
  file?: string;
  repo?: string;
  ref: string;
  path: string;
  envFile?: string;
  listen: string;
  acceptNewHostKeys?: boolean;
  connectTimeout: string;
  logLevel: string;
};

/**
 * `heal watch`: the daemon. Follows a git repository (or a local file), applies every new
 * revision, and heals what breaks. Runs until SIGTERM or SIGINT, then exits 0.
 */
export function watchCommand(): Command {
  return new Command('watch')
    .description('run the daemon: follow git (or a file), apply each revision, heal what breaks')
    .option('-f, --file <file>', 'follow a local spec file instead of a git repository')
    .option('--repo <url>', 'the git repository holding the spec')
    .option('--ref <ref>', 'the branch or tag to follow', 'main')
    .option('--path <path>', 'the spec inside the repository', 'stack.yml')
    .option('--env-file <file>', 'variables for ${VAR} instead of the .env beside the spec')
    .option(
      '--listen <address>',
      'HTTP for /healthz, /readyz, /metrics, /status, /hooks/git',
      '127.0.0.1:9400',
    )
    .option('--accept-new-host-keys', 'trust and record the key of a host not yet in known_hosts')
    .option('--connect-timeout <seconds>', 'give up on a host that has not answered after this long', '5')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action(async (options: Options) => {
      if ((options.file === undefined) === (options.repo === undefined))
        throw new UsageError('heal watch needs one of --repo URL or -f FILE');
      const seconds = Number(options.connectTimeout);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new UsageError(`--connect-timeout: "${options.connectTimeout}" is not a number of seconds`);
      // Loaded here, not at the top: the one-shot commands never pay for git, chokidar, pino and
      // prom-client.
      const [{ createLogger }, { gitSource, fileSource }, { startDaemon }] = await Promise.all([
        import('../../watch/log.js'),
        import('../../watch/source.js'),
        import('../../watch/daemon.js'),
      ]);
      const log = createLogger({ level: options.logLevel });
      const secrets = [
        process.env.HEAL_GIT_TOKEN,
        process.env.HEAL_WEBHOOK_SECRET,
        process.env.HEAL_REGISTRY_PASSWORD,
      ].filter((value): value is string => Boolean(value));
      log.secretValues(secrets);
      const source = options.repo
        ? gitSource({ url: options.repo, ref: options.ref, path: options.path, intervalMs: 15_000, log })
        : fileSource({ file: options.file!, log });
      const daemon = await startDaemon({
        source,
        environment: process.env,
        ...(options.envFile ? { envFile: options.envFile } : {}),
        listen: options.listen,
        log,
        ...(process.env.HEAL_WEBHOOK_SECRET ? { webhookSecret: process.env.HEAL_WEBHOOK_SECRET } : {}),
        acceptNewHostKeys: options.acceptNewHostKeys === true,
        connectTimeoutMs: seconds * 1000,
        secrets: (values) => log.secretValues(values),
      });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string): void => {
          log.info({ signal }, 'stopping');
          void daemon.stop().then(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
