// The errors a Corrosion caller can meet, each with a stable EP_CORROSION_* code and the exit code
// the CLI uses (3 = the operator can fix it, 4 = the agent or the network failed). Messages never
// carry the bearer token: callers pass URLs and agent texts only.
import {EdgeproxyError, ExitCode, InvalidInputError, UnavailableError, type EdgeproxyErrorOptions} from '../errors.js'

export const CorrosionErrorCode = {
  unavailable: 'EP_CORROSION_UNAVAILABLE',
  auth: 'EP_CORROSION_AUTH',
  timeout: 'EP_CORROSION_TIMEOUT',
  overloaded: 'EP_CORROSION_OVERLOADED',
  sql: 'EP_CORROSION_SQL',
  rejected: 'EP_CORROSION_REQUEST_REJECTED',
  protocol: 'EP_CORROSION_PROTOCOL',
  statement: 'EP_CORROSION_STATEMENT_INVALID',
  migrationsUnsupported: 'EP_CORROSION_MIGRATIONS_UNSUPPORTED',
  schemaRefused: 'EP_CORROSION_SCHEMA_REFUSED',
  schemaMismatch: 'EP_CORROSION_SCHEMA_MISMATCH',
  admin: 'EP_CORROSION_ADMIN_UNAVAILABLE',
  reloadFailed: 'EP_CORROSION_RELOAD_FAILED',
  noApplyPath: 'EP_CORROSION_NO_RELOAD_PATH',
  unhealthy: 'EP_CORROSION_UNHEALTHY',
  subscription: 'EP_CORROSION_SUBSCRIPTION',
  config: 'EP_CORROSION_CONFIG_INVALID',
} as const
export type CorrosionErrorCode = (typeof CorrosionErrorCode)[keyof typeof CorrosionErrorCode]

/** The flag a user passes to point edgeproxy at another agent; commands differ. */
export const DEFAULT_URL_FLAG = '--corrosion-url'

/** The agent cannot be reached (refused, reset, DNS): exit 4. */
export class CorrosionUnavailableError extends UnavailableError {
  constructor(url: string, options: EdgeproxyErrorOptions & {urlFlag?: string} = {}) {
    super(CorrosionErrorCode.unavailable, `cannot reach Corrosion at ${url}`, {
      suggestion: options.suggestion ?? `start the agent (systemctl start corrosion) or pass ${options.urlFlag ?? DEFAULT_URL_FLAG}`,
      cause: options.cause,
      field: options.field,
    })
  }
}

/** 401 from the agent: the token is missing or wrong. The operator fixes it: exit 3. */
export class CorrosionAuthError extends InvalidInputError {
  constructor(url: string, hasToken: boolean, options: {tokenFlag?: string} = {}) {
    const flag = options.tokenFlag ?? '--token'
    super(
      CorrosionErrorCode.auth,
      hasToken ? `Corrosion at ${url} refused the bearer token (401)` : `Corrosion at ${url} requires a bearer token (401)`,
      {
        suggestion: `pass the agent's api.authz.bearer-token with ${flag} or EDGEPROXY_CORROSION_TOKEN`,
        field: 'EDGEPROXY_CORROSION_TOKEN',
      },
    )
  }
}

/** No response in time: exit 4. */
export class CorrosionTimeoutError extends UnavailableError {
  constructor(url: string, what: string, timeoutMs: number, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.timeout, `Corrosion at ${url} did not answer ${what} within ${timeoutMs} ms`, {
      suggestion: 'check the agent with `edgeproxy corrosion status`, or raise the timeout',
      ...options,
    })
  }
}

/** 503 `max concurrency limit reached` after every retry: exit 4. */
export class CorrosionOverloadedError extends UnavailableError {
  constructor(url: string, attempts: number) {
    super(CorrosionErrorCode.overloaded, `Corrosion at ${url} shed the request ${attempts} times (503 max concurrency limit reached)`, {
      suggestion: 'send fewer parallel requests, or retry later',
    })
  }
}

/** The agent ran the SQL and SQLite refused it (500 on transactions, 400 on queries). Exit 3. */
export class CorrosionSqlError extends InvalidInputError {
  readonly agentMessage: string
  readonly status: number
  constructor(agentMessage: string, status: number) {
    super(CorrosionErrorCode.sql, `Corrosion refused the SQL: ${agentMessage}`, {
      suggestion: 'fix the statement; the message above is SQLite\'s, as the agent returned it',
    })
    this.agentMessage = agentMessage
    this.status = status
  }
}

/** A non-SQL refusal (400/415/422 text from the agent's extractors, 404, 405, 421): exit 3. */
export class CorrosionRequestError extends EdgeproxyError {
  readonly status: number
  readonly body: string
  constructor(url: string, status: number, body: string, options: EdgeproxyErrorOptions = {}) {
    const text = body.trim() === '' ? '(empty body)' : body.trim().slice(0, 300)
    super(CorrosionErrorCode.rejected, `Corrosion at ${url} answered ${status}: ${text}`, status >= 500 ? ExitCode.unavailable : ExitCode.invalid, {
      suggestion: options.suggestion ?? 'check that --api-url points at a Corrosion agent API (not gossip or the PG port)',
      ...options,
    })
    this.status = status
    this.body = body
  }
}

/** The agent broke the wire contract (a stream ended before eoq, a non-JSON line, an unknown event). Exit 4. */
export class CorrosionProtocolError extends UnavailableError {
  constructor(message: string, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.protocol, message, {suggestion: 'retry; if it persists, check the agent logs (journalctl -u corrosion)', ...options})
  }
}

/** A statement refused before it is sent (bad named-param key, object param, two statements). Exit 3. */
export class CorrosionStatementError extends InvalidInputError {
  constructor(message: string, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.statement, message, {suggestion: 'bind values as parameters; see the Statement forms in docs', ...options})
  }
}

/** POST /v1/migrations answered 404 (removed in Corrosion after v1.0.1). Exit 4. */
export class CorrosionMigrationsUnsupportedError extends UnavailableError {
  constructor(url: string) {
    super(CorrosionErrorCode.migrationsUnsupported, `POST /v1/migrations is not supported by this agent (${url})`, {
      suggestion: 'write the schema file under db.schema_paths and run `corrosion reload` (edgeproxy corrosion init-schema does both)',
    })
  }
}

/** A schema Corrosion would refuse, or did refuse; the message is Corrosion's own rule text. Exit 3. */
export class CorrosionSchemaError extends InvalidInputError {
  readonly rules: string[]
  constructor(message: string, rules: string[] = [message], options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.schemaRefused, message, {
      suggestion: 'only append columns (nullable or with a DEFAULT); never edit an existing column, add UNIQUE or REFERENCES',
      ...options,
    })
    this.rules = rules
  }
}

/** The agent's table lacks columns this edgeproxy writes (init-schema not run there yet). Exit 3. */
export class CorrosionSchemaMismatchError extends InvalidInputError {
  constructor(message: string, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.schemaMismatch, message, options)
  }
}

/** The admin socket cannot be reached or did not answer. Exit 4. */
export class CorrosionAdminError extends UnavailableError {
  constructor(message: string, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.admin, message, {
      suggestion: 'pass --admin-socket with the agent\'s admin.path (default /var/run/corrosion/admin.sock) and run as a user that may open it',
      ...options,
    })
  }
}

/** The agent answered Reload with {"Error":…}. Exit 3: the schema files need a fix. */
export class CorrosionReloadError extends InvalidInputError {
  readonly agentMessage: string
  constructor(agentMessage: string, options: EdgeproxyErrorOptions = {}) {
    super(CorrosionErrorCode.reloadFailed, `Corrosion refused the schema: ${agentMessage}`, {
      suggestion: 'fix the files in --schema-dir (only append columns) and run `edgeproxy corrosion init-schema` again',
      ...options,
    })
    this.agentMessage = agentMessage
  }
}
