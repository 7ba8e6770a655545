// Renders schema/backends.sql, the file Corrosion loads from db.schema_paths: the one backends table
// of src/store/schema.ts in the form Corrosion accepts (no IF NOT EXISTS). It owns no columns itself.
import {backendsTableDdl} from '../store/schema.js'

export function renderBackendsSchemaSql(): string {
  return (
    '-- edgeproxy routing table, loaded by Corrosion from db.schema_paths (at start and on `corrosion reload`).\n' +
    '-- Columns are only ever appended; Corrosion refuses edits to an existing column.\n' +
    backendsTableDdl()
  )
}
