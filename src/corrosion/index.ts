// Public exports of src/corrosion (re-exported by src/index.ts): the client, its subscription, the
// routing feed, schema rules, the admin socket, and the init-schema / status operations.
export {
  CorrosionClient,
  DEFAULT_CORROSION_URL,
  type CorrosionClientOptions,
  type ExecResponse,
  type ExecResult,
  type HealthParams,
  type HealthResult,
  type MigrationsResponse,
  type QueryResult,
  type QueryRow,
  type RequestOptions,
  type TableStats,
} from './client.js'
export {
  Subscription,
  type SubscriptionChange,
  type SubscriptionHandlers,
  type SubscriptionOptions,
  type SubscriptionSnapshot,
  type SubscriptionStatus,
} from './subscription.js'
export {readNdjson, parseQueryEvent, type ChangeType, type QueryEvent, type SqliteValue} from './ndjson.js'
export {
  namedStatement,
  normalizeStatement,
  serializeStatement,
  serializeStatements,
  sql as corrosionSql,
  statement,
  statementSql,
  type NamedParams,
  type SqliteParam,
  type Statement,
} from './statement.js'
export {normalizeSql} from './sql-lexer.js'
export {
  assertSchemaAccepted,
  checkSchema,
  diffTable,
  parseSchemaSql,
  type ParsedColumn,
  type ParsedSchema,
  type ParsedTable,
  type SchemaCheck,
} from './schema-rules.js'
export {
  adminCommand,
  decodeFrames,
  DEFAULT_ADMIN_SOCKET,
  encodeFrame,
  findCorrosionBinary,
  pingAdmin,
  reloadSchema,
  runCorrosionReload,
  type AdminResult,
} from './admin.js'
export {BACKENDS_SUBSCRIPTION_SQL, CorrosionFeed, type CorrosionFeedOptions} from './corrosion-feed.js'
export {
  BACKENDS_SCHEMA_FILE,
  initSchema,
  readTableState,
  type ApplyMethod,
  type InitSchemaOptions,
  type InitSchemaResult,
} from './init-schema.js'
export {corrosionStatus, type CorrosionStatusResult} from './agent-status.js'
export * from './errors.js'
export {CorrosionBackendStore} from './corrosion-backend-store.js'
