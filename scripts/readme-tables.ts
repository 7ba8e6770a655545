// Prints the README's configuration and schema tables from the code that defines them, so the
// README can be refreshed by hand: node --import tsx scripts/readme-tables.ts
import {ANYCAST_SETTINGS} from '../src/anycast/settings.js'
import {START_SETTINGS} from '../src/config/start-config.js'
import {BACKEND_COLUMNS} from '../src/store/schema.js'

const lines: string[] = ['| variable | flag | default | range | what |', '|---|---|---|---|---|']
for (const s of Object.values(START_SETTINGS)) {
  const shown = s.default !== undefined ? `\`${s.default}\`` : (s.defaultLabel ?? '(none)')
  lines.push(`| \`${s.env}\` | \`--${s.flag}\` | ${shown} | ${s.range ?? ''} | ${s.summary} |`)
}
lines.push('', '| variable | flag | default | what |', '|---|---|---|---|')
for (const s of Object.values(ANYCAST_SETTINGS)) {
  if (Object.values(START_SETTINGS).includes(s as never)) continue
  lines.push(`| \`${s.env}\` | \`--${s.flag}\` | \`${s.default}\` | ${s.summary} |`)
}
lines.push('', '| column | definition | meaning |', '|---|---|---|')
for (const c of BACKEND_COLUMNS) lines.push(`| \`${c.name}\` | \`${c.definition}\` | ${c.doc} |`)
process.stdout.write(lines.join('\n') + '\n')
