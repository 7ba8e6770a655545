// Runs the CLI on a pseudo-terminal (test/support/pty-run.py) so it sees a TTY on stdin and stdout:
// prompts, and tables fitted to the terminal's width. `answers` are [expect, send] pairs.
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import path from 'node:path'

import {BIN, cleanEnv, ROOT} from './proxy-process.js'

export interface PtyRun {
  code: number
  /** Everything the terminal showed (stdout and stderr interleaved, with escape codes). */
  output: string
}

export async function runOnPty(
  args: string[],
  options: {answers?: Array<[string, string]>; env?: Record<string, string | undefined>; columns?: number; cwd?: string} = {},
): Promise<PtyRun> {
  // A terminal emulator sets TERM; CI runners often have none (or set CI), and chalk then turns colour
  // off even on a TTY. The terminal this runs the CLI on is an xterm, whatever ran the tests.
  const env = cleanEnv({PTY_COLUMNS: String(options.columns ?? 80), TERM: 'xterm-256color', ...options.env})
  if (options.env?.CI === undefined) delete env.CI
  const child = spawn('python3', [path.join(ROOT, 'test/support/pty-run.py'), JSON.stringify(options.answers ?? []), BIN, ...args], {env, cwd: options.cwd ?? ROOT})
  let output = ''
  child.stdout.on('data', (c: Buffer) => (output += c))
  child.stderr.on('data', (c: Buffer) => (output += c))
  const [code] = (await once(child, 'exit')) as [number]
  return {code, output}
}

/** The terminal text without colour and cursor escape codes. */
export function plainText(output: string): string {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
}
