/** Runs the real `dsync` binary, as users and CI do. */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './fixtures.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'dsync.js'), ...args],
      { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export interface DaemonProcess {
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** `host:port` of its HTTP server once it printed it (waits up to 10 s), or '' when it did not. */
  address(): Promise<string>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** `dsync … run` as a child process, the way a service manager starts it. */
export function spawnDaemon(args: string[], cwd: string): DaemonProcess {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), ...args], { cwd });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    output: () => output,
    async address() {
      for (let i = 0; i < 100; i++) {
        const found = /http:\/\/(127\.0\.0\.1:\d+)\//.exec(output)?.[1];
        if (found) return found;
        await new Promise((r) => setTimeout(r, 100));
      }
      return '';
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
