// The metrics listener (EDGEPROXY_METRICS_LISTEN_ADDR): node:http serving GET /metrics and nothing
// else, for a Prometheus that should not reach the API. With a token every request needs
// `Authorization: Bearer <token>`, checked in constant time; errors are JSON like the API's.
import {createHash, timingSafeEqual} from 'node:crypto'
import http from 'node:http'

import type {Logger} from '../log/logger.js'
import type {HostPort} from '../net/address.js'
import {listenOn} from '../proxy/listener.js'

export interface MetricsText {
  contentType: string
  body: string
}

export interface MetricsServerOptions {
  render: () => Promise<MetricsText>
  token?: string
  logger: Logger
}

const digest = (text: string) => createHash('sha256').update(text).digest()

export class MetricsServer {
  private readonly server: http.Server
  private readonly tokenDigest?: Buffer

  constructor(private readonly options: MetricsServerOptions) {
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token)
    this.server = http.createServer({requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000}, (req, res) => {
      void this.handle(req, res)
    })
  }

  async listen(address: HostPort): Promise<HostPort> {
    const bound = await listenOn(this.server, address, '--metrics-listen (EDGEPROXY_METRICS_LISTEN_ADDR)')
    this.server.on('error', (error) => this.options.logger.error('metrics_error', `metrics listener error: ${error.message}`))
    return bound
  }

  close(): void {
    this.server.close()
    this.server.closeAllConnections()
  }

  private isAuthorized(req: http.IncomingMessage): boolean {
    if (this.tokenDigest === undefined) return true
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')
    return match !== null && timingSafeEqual(digest(match[1].trim()), this.tokenDigest)
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (!this.isAuthorized(req)) {
      return send(res, 401, error('unauthorized', 'missing or wrong bearer token'), {'www-authenticate': 'Bearer realm="edgeproxy"'})
    }
    if (path !== '/metrics') return send(res, 404, error('not_found', `no such endpoint: ${req.method} ${path}; this listener serves GET /metrics`))
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, error('method_not_allowed', `${req.method} is not allowed on /metrics; use GET`), {allow: 'GET'})
    }
    try {
      const {contentType, body} = await this.options.render()
      res.writeHead(200, {'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store'})
      res.end(req.method === 'HEAD' ? undefined : body)
    } catch (e) {
      this.options.logger.error('metrics_error', `cannot render metrics: ${(e as Error).message}`)
      send(res, 500, error('internal', 'internal error; see the proxy logs'))
    }
  }
}

function error(code: string, message: string): string {
  return JSON.stringify({error: {code, message}}) + '\n'
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers})
  res.end(body)
}
