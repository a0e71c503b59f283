import { Command } from 'commander';
import { realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { registryEnvironmentProblem } from '../../executor/registry-auth.js';
import { allowEnvProblem, type Confinement, within } from '../../spec/confine.js';
import { notifyConfig } from '../notify-options.js';
import { UsageError } from '../errors.js';

type Options = {
  file?: string;
  repo?: string;
  ref: string;
  path: string;
  envFile?: string;
  allowEnv: string[];
  allowPath: string[];
  allowSsh: string[];
  listen: string;
  acceptNewHostKeys?: boolean;
  connectTimeout: string;
  logLevel: string;
  notifyWebhook?: string;
  notifyTimeout: string;
  commitStatus?: string;
  commitStatusRepo?: string;
  commitStatusApi?: string;
  commitStatusContext?: string;
  commitStatusUrl?: string;
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
      '--allow-env <names>',
      "let the spec read these variables of heal's environment: NAME[,NAME...], repeatable, never HEAL_*",
      (value: string, names: string[]) => [...names, ...value.split(',').map((name) => name.trim())],
      [],
    )
    .option(
      '--allow-path <dir>',
      'let the spec read files under this folder as secrets, configs and env files (the repository is always allowed). Repeatable',
      (value: string, dirs: string[]) => [...dirs, value],
      [],
    )
    .option(
      '--allow-ssh <dir>',
      'the folder holding the known_hosts and identity files the spec names (never read as data). Repeatable',
      (value: string, dirs: string[]) => [...dirs, value],
      [],
    )
    .option(
      '--listen <address>',
      'HTTP for the status page (/, /events), /healthz, /readyz, /metrics, /status, /hooks/git',
      '127.0.0.1:9400',
    )
    .option('--accept-new-host-keys', 'trust and record the key of a host not yet in known_hosts')
    .option('--connect-timeout <seconds>', 'give up on a host that has not answered after this long', '5')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--notify-webhook <url>', 'POST each event as JSON, signed with HEAL_NOTIFY_SECRET')
    .option('--notify-timeout <seconds>', 'give up on a notification request after this long', '10')
    .option(
      '--commit-status <forge>',
      'set commit statuses of each revision applied: github, gitlab or gitea (token: HEAL_STATUS_TOKEN)',
    )
    .option(
      '--commit-status-repo <repo>',
      "the forge's owner/name (GitLab: the project's path or id); default: from --repo",
    )
    .option('--commit-status-api <url>', "the forge's API base URL; default: from --repo")
    .option('--commit-status-context <name>', "the status's name on the commit (default heal/STACK)")
    .option('--commit-status-url <url>', 'the link each status carries (the status page, a dashboard)')
    .action(async (options: Options) => {
      if ((options.file === undefined) === (options.repo === undefined))
        throw new UsageError('heal watch needs one of --repo URL or -f FILE');
      const seconds = Number(options.connectTimeout);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new UsageError(`--connect-timeout: "${options.connectTimeout}" is not a number of seconds`);
      const confine = confinement(options);
      const notify = notifyConfig(options, process.env);
      const registryProblem = registryEnvironmentProblem(process.env);
      if (registryProblem) throw new UsageError(registryProblem);
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
        process.env.HEAL_SSH_PASSPHRASE,
        process.env.HEAL_NOTIFY_SECRET,
        process.env.HEAL_STATUS_TOKEN,
      ].filter((value): value is string => Boolean(value));
      log.secretValues(secrets);
      const source = options.repo
        ? gitSource({ url: options.repo, ref: options.ref, path: options.path, intervalMs: 15_000, log })
        : fileSource({ file: options.file!, log });
      const daemon = await startDaemon({
        source,
        environment: process.env,
        // The operator's file, named from where heal started (loads resolve against the checkout).
        ...(options.envFile ? { envFile: resolve(options.envFile) } : {}),
        confine,
        listen: options.listen,
        log,
        ...(process.env.HEAL_WEBHOOK_SECRET ? { webhookSecret: process.env.HEAL_WEBHOOK_SECRET } : {}),
        acceptNewHostKeys: options.acceptNewHostKeys === true,
        connectTimeoutMs: seconds * 1000,
        secrets: (values) => log.secretValues(values),
        ...(notify ? { notify } : {}),
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

/**
 * What a commit may reach: `--allow-env` names (never HEAL_*), `--allow-path` folders of data and
 * `--allow-ssh` folders of SSH files, which must exist now and not overlap. Anyone who can push
 * writes the spec; only the operator writes these options.
 */
function confinement(options: Options): Confinement {
  for (const name of options.allowEnv) {
    const problem = allowEnvProblem(name);
    if (problem) throw new UsageError(`--allow-env ${problem}`);
  }
  const allowPaths = options.allowPath.map((dir) => folder('--allow-path', dir));
  const sshPaths = options.allowSsh.map((dir) => folder('--allow-ssh', dir));
  for (const data of allowPaths)
    for (const ssh of sshPaths)
      if (within(data, ssh) || within(ssh, data))
        throw new UsageError(
          `--allow-path ${data} overlaps --allow-ssh ${ssh}: a spec could read heal's SSH files as a secret`,
        );
  const specFolder = options.file === undefined ? null : realpathSync(dirname(resolve(options.file)));
  const holding = sshPaths.find((ssh) => specFolder !== null && within(specFolder, ssh));
  if (holding !== undefined)
    throw new UsageError(
      `--allow-ssh ${holding} holds the spec's folder: heal watch never reads its SSH files as the spec's`,
    );
  return {
    allowEnv: options.allowEnv,
    allowPaths,
    sshPaths,
    place: options.repo ? 'the repository' : "the spec's folder",
  };
}

/** The real path of an existing folder an option names. */
function folder(option: string, dir: string): string {
  try {
    const real = realpathSync(resolve(dir));
    if (statSync(real).isDirectory()) return real;
  } catch {
    // Reported below, as for a file.
  }
  throw new UsageError(`${option} ${dir}: not a folder`);
}
