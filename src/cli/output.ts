// How every command writes to the terminal, in one place so all commands (and the lean path in
// src/cli/lean/) agree: JSON (printJson: the one key casing of src/json-keys.ts, two-space indent,
// stdout), and colour (NO_COLOR turns it off unless FORCE_COLOR asks for it; chalk reads FORCE_COLOR
// and whether stdout is a terminal). Tables are in src/cli/table.ts.
import chalk from 'chalk'

import {toJsonKeys} from '../json-keys.js'

if (process.env.FORCE_COLOR === undefined && process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0

/** The JSON text of a command's result or error: snake_case keys, two-space indent, one trailing newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(toJsonKeys(value), null, 2) + '\n'
}

export function printJson(value: unknown): void {
  process.stdout.write(jsonText(value))
}
