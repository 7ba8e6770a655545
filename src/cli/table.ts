// The one table style of the CLI (every command's human output uses it; new commands should too):
// kubectl-style columns, a header row, cells separated by three spaces, no box drawing, so a pipe
// gets rows that `awk`, `cut` and `column` read. On a terminal the header is bold and the table
// fits the width (80 columns when unknown): short headers where columns have one, the widest
// shrinkable columns shortened with "…", then two spaces between columns, instead of wrapping rows. Colour is a cell's `style`, applied after measuring and shortening,
// and follows chalk (NO_COLOR, FORCE_COLOR: see output.ts).
import chalk from 'chalk'

export type Cell = string | {text: string; style?: (text: string) => string}

export interface Column {
  header: string
  /** A shorter header used on a terminal too narrow for the full ones (COUNTRY → CC); pipes always get `header`. */
  short?: string
  /** May be shortened to fit a terminal (ids, addresses, reasons); default true. */
  canShrink?: boolean
  /** Numbers read better right-aligned. */
  align?: 'left' | 'right'
}

export interface TableOptions {
  /** Default: whether stdout is a terminal. */
  isTty?: boolean
  /** Terminal width; default: stdout's columns, else 80. */
  width?: number
}

const GAP = '   '
const MIN_WIDTH = 5

function text(cell: Cell): string {
  return (typeof cell === 'string' ? cell : cell.text).replace(/\s*\n\s*/g, ', ')
}

function shorten(value: string, width: number): string {
  return value.length <= width ? value : value.slice(0, Math.max(0, width - 1)) + '…'
}

/** Terminal facts for renderTable, read once per call. */
export function terminal(): {isTty: boolean; width: number} {
  return {isTty: process.stdout.isTTY === true, width: process.stdout.columns || 80}
}

/**
 * Column widths (and the gap between columns) that fit `total` characters: the widest shrinkable
 * column is shortened first, down to MIN_WIDTH (its header is shortened too); when three spaces
 * between columns is too much even then, two are used.
 */
/** Whether the columns fit `total` once shortened as far as fitWidths may. */
function fits(natural: readonly number[], columns: readonly Column[], total: number): boolean {
  const {widths, gap} = fitWidths(natural, columns, total)
  return widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1) <= total
}

export function fitWidths(natural: readonly number[], columns: readonly Column[], total: number): {widths: number[]; gap: number} {
  const floor = columns.map((c, i) => (c.canShrink === false ? natural[i]! : Math.min(natural[i]!, MIN_WIDTH)))
  const sum = (w: readonly number[]) => w.reduce((a, b) => a + b, 0)
  const gap = sum(floor) + GAP.length * (columns.length - 1) > total ? GAP.length - 1 : GAP.length
  const widths = [...natural]
  while (sum(widths) + gap * (widths.length - 1) > total) {
    let widest = -1
    for (let i = 0; i < widths.length; i++) if (widths[i]! > floor[i]! && (widest === -1 || widths[i]! > widths[widest]!)) widest = i
    if (widest === -1) break
    widths[widest]!--
  }
  return {widths, gap}
}

export function renderTable(columns: ReadonlyArray<Column | string>, rows: ReadonlyArray<readonly Cell[]>, options: TableOptions = {}): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? {header: c} : c))
  const term = terminal()
  const isTty = options.isTty ?? term.isTty
  const width = options.width ?? term.width
  const naturalOf = (headers: readonly string[]) => cols.map((_, i) => Math.max(headers[i]!.length, ...rows.map((r) => text(r[i] ?? '').length)))
  let headers = cols.map((c) => c.header)
  let natural = naturalOf(headers)
  if (isTty && !fits(natural, cols, width)) {
    headers = cols.map((c) => c.short ?? c.header)
    natural = naturalOf(headers)
  }
  const {widths, gap} = isTty ? fitWidths(natural, cols, width) : {widths: natural, gap: GAP.length}
  const line = (cells: readonly Cell[], isHeader: boolean) =>
    cols
      .map((c, i) => {
        const cell = cells[i] ?? ''
        const value = shorten(text(cell), widths[i]!)
        const padded = c.align === 'right' ? value.padStart(widths[i]!) : i === cols.length - 1 ? value : value.padEnd(widths[i]!)
        const style = isHeader ? (isTty ? chalk.bold : undefined) : typeof cell === 'string' ? undefined : cell.style
        // Style the text, not the padding, so colour codes never change the alignment.
        return style ? padded.replace(value, style(value)) : padded
      })
      .join(' '.repeat(gap))
      .trimEnd()
  return [line(headers, true), ...rows.map((r) => line(r, false))].join('\n')
}

/** A two-column `key  value` view of one object (backend get, corrosion status). */
export function renderFields(fields: ReadonlyArray<readonly [string, Cell]>, options: TableOptions = {}): string {
  const isTty = options.isTty ?? terminal().isTty
  const width = Math.max(...fields.map(([k]) => k.length))
  return fields
    .map(([key, cell]) => {
      const value = typeof cell === 'string' ? cell : cell.style ? cell.style(cell.text) : cell.text
      return `${isTty ? chalk.bold(key.padEnd(width)) : key.padEnd(width)}  ${value}`
    })
    .join('\n')
}
