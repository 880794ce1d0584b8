/**
 * A real single-node Slurm cluster for tests, from Debian's packages: munged (if none answers),
 * slurmctld and slurmd with a private configuration in a temp folder. Every daemon started here is
 * stopped by its PID file, never by name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { tempDir } from './files.js';

export interface Cluster {
  /** Environment for sbatch, squeue, scancel, sinfo (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  stop(): void;
}

const PACKAGES = ['slurmctld', 'slurmd', 'slurm-client', 'munge'];

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Why no cluster can run here (not root, Slurm not installed), or undefined when one can. Installs nothing: .ci/run does. */
export function slurmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the Slurm test needs root (it starts munged, slurmctld and slurmd)';
  if (has('slurmctld') && has('slurmd') && has('sbatch') && has('munged')) return undefined;
  return `Slurm is not installed: apt-get install ${PACKAGES.join(' ')}`;
}

function mungeAnswers(): boolean {
  return spawnSync('sh', ['-c', 'munge -n | unmunge'], { stdio: 'ignore' }).status === 0;
}

function waitFor(what: string, ok: () => boolean, seconds: number): void {
  const end = Date.now() + seconds * 1000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`Slurm test cluster: ${what} did not happen within ${seconds} s`);
    execFileSync('sleep', ['0.1']);
  }
}

/** Starts the cluster; throws with the daemons' logs if it does not come up. */
export function startCluster(): Cluster {
  const dir = tempDir('mc-dropout-slurm-');
  const node = hostname().split('.')[0]!;
  const port = 30000 + Math.floor(Math.random() * 5000) * 2;
  const pids: string[] = [];
  const conf = path.join(dir, 'slurm.conf');
  mkdirSync(path.join(dir, 'state'));
  mkdirSync(path.join(dir, 'spool'));
  writeFileSync(
    conf,
    [
      'ClusterName=mcdropout',
      `SlurmctldHost=${node}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'MailProg=/bin/true',
      'SchedulerParameters=batch_sched_delay=0',
      'DependencyParameters=kill_invalid_depend',
      'SlurmdParameters=config_overrides',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      'JobCompType=jobcomp/none',
      'AccountingStorageType=accounting_storage/none',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      // more CPUs than the machine has, so four shards and a merge job run at once
      `NodeName=${node} CPUs=8 State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const stop = () => {
    for (const pidFile of pids) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  try {
    if (!mungeAnswers()) {
      mkdirSync('/run/munge', { recursive: true });
      execFileSync('chown', ['munge:munge', '/run/munge']);
      execFileSync('runuser', ['-u', 'munge', '--', 'munged']);
      pids.push('/run/munge/munged.pid');
      waitFor('munged answering', mungeAnswers, 10);
    }
    execFileSync('slurmctld', ['-f', conf], { env });
    pids.push(path.join(dir, 'slurmctld.pid'));
    execFileSync('slurmd', ['-f', conf], { env });
    pids.push(path.join(dir, 'slurmd.pid'));
    waitFor('the node becoming idle', () => spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8' }).stdout.trim() === 'idle', 30);
  } catch (error) {
    stop();
    const logs = ['slurmctld.log', 'slurmd.log']
      .map((f) => path.join(dir, f))
      .filter(existsSync)
      .map((f) => readFileSync(f, 'utf8').split('\n').slice(-15).join('\n'));
    throw new Error(`${(error as Error).message}\n${logs.join('\n')}`);
  }
  return { env, stop };
}

/** Submits a batch job; returns its id. */
export function sbatch(cluster: Cluster, cwd: string, args: string[]): string {
  return execFileSync('sbatch', ['--parsable', ...args], { cwd, env: cluster.env, encoding: 'utf8' })
    .trim()
    .split(';')[0]!;
}

/** Waits until none of the given jobs is pending or running. */
export async function waitForJobs(cluster: Cluster, ids: string[], seconds = 120): Promise<void> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const queued = spawnSync('squeue', ['-h', '-j', ids.join(','), '-o', '%i %T'], { env: cluster.env, encoding: 'utf8' }).stdout.trim();
    if (queued === '') return;
    if (Date.now() > end) throw new Error(`jobs still queued after ${seconds} s:\n${queued}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** State of a job (COMPLETED, FAILED, CANCELLED, ...), from scontrol while slurmctld remembers it. */
export function jobState(cluster: Cluster, id: string): string {
  const text = spawnSync('scontrol', ['show', 'job', id], { env: cluster.env, encoding: 'utf8' }).stdout;
  return /JobState=(\S+)/.exec(text)?.[1] ?? 'UNKNOWN';
}

/** Cancels a job: Slurm sends SIGTERM, then SIGKILL after KillWait, as at a time limit or a preemption. */
export function scancel(cluster: Cluster, id: string): void {
  execFileSync('scancel', [id], { env: cluster.env });
}
