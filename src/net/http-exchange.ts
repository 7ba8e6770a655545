// One HTTP request on a connection of its own (no keep-alive, so a CLI command exits as soon as it
// has printed), its whole body read as text. What the CLI's API client and `edgeproxy status` use to
// talk to a running proxy, over node:http(s) rather than fetch (which loads undici).

// Not `import http from 'node:http'`: on Node 22+ an ES import of node:http evaluates every export,
// WebSocket's included, which loads Node's bundled undici (~9 ms of a ~75 ms CLI command on Node 24).
// https (and with it tls and crypto) only for an https URL.
const http = process.getBuiltinModule('node:http')

export interface HttpReply {
  status: number
  text: string
}

/** Rejects with the socket's error, or with code ETIMEDOUT when nothing answers within `timeoutMs`. */
export function httpExchange(url: URL, options: {method: string; headers: Record<string, string>; body?: string; timeoutMs: number}): Promise<HttpReply> {
  const transport = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : http
  const {method, headers, body, timeoutMs} = options
  return new Promise((resolve, reject) => {
    const req = transport.request(url, {method, headers: {connection: 'close', ...headers}, agent: false, timeout: timeoutMs}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8')}))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), {code: 'ETIMEDOUT'})))
    req.on('error', reject)
    req.end(body)
  })
}
