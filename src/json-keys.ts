// The one key-casing rule of every JSON edgeproxy prints or serves (`--json` output and API bodies):
// snake_case, with TypeScript's boolean prefix dropped (`isDryRun` → `dry_run`, `lastSyncAtMs` →
// `last_sync_at_ms`), as backend objects already read (`healthy`, `soft_limit`). Code builds objects
// in its own camelCase; the two boundaries (BaseCommand's JSON output and the API server's `send`)
// apply this once. Only identifier-like keys change: file names and ids used as keys stay as they are.

const CAMEL = /^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$/
const BOOLEAN_PREFIX = /^(?:is|has)(?=[A-Z])/

/** `isDryRun` → `dry_run`, `rowCount` → `row_count`; snake_case and other keys are returned unchanged. */
export function jsonKey(key: string): string {
  if (!CAMEL.test(key)) return key
  return key
    .replace(BOOLEAN_PREFIX, '')
    .replace(/[A-Z]/g, (c, offset: number) => (offset === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`))
}

/**
 * A deep copy of `value` with every object key passed through jsonKey. Two keys of one object that
 * map to the same name are a bug in the code that built the object, so that throws.
 */
export function toJsonKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toJsonKeys)
  if (value === null || typeof value !== 'object') return value
  if (typeof (value as {toJSON?: unknown}).toJSON === 'function') return toJsonKeys((value as {toJSON: () => unknown}).toJSON())
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    if (inner === undefined) continue
    const name = jsonKey(key)
    if (Object.hasOwn(out, name)) throw new Error(`two JSON keys map to ${JSON.stringify(name)} (one is ${JSON.stringify(key)})`)
    out[name] = toJsonKeys(inner)
  }
  return out
}
