// The status page: static files (src/ui/page/, copied next to this module by the build) served at
// /ui on the API listener under a strict Content-Security-Policy, and GET /api/v1/traffic, the
// charts' history, sampled on a timer from the counters the data path already keeps (nothing runs
// per connection). The page loads without the token; every data call keeps the API's token rules.
import fs from 'node:fs'

import type {EngineParts} from '../engine.js'
import {HttpError, type ApiRoute, type HandlerResult} from '../discovery/api-server.js'
import {errorMessage} from '../errors.js'
import {clientErrors} from '../proxy/stats.js'
import type {Service} from '../server/service.js'
import {TrafficHistory, type TrafficTotals} from './traffic-history.js'

/** The page's files: name → content type. Nothing else under /ui is served. */
export const PAGE_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
}

/**
 * Scripts and styles only from the page's own files (no inline code, no event-handler attributes),
 * data only from this origin, never framed, forms never submitted to a URL.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const PAGE_HEADERS = {
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

/** Reads the page's files once; undefined (with the reason) when the install lacks them. */
export function loadPage(dir: URL = new URL('./page/', import.meta.url)): {files: Map<string, Buffer>} | {error: string} {
  const files = new Map<string, Buffer>()
  try {
    for (const name of Object.keys(PAGE_FILES)) files.set(name, fs.readFileSync(new URL(name, dir)))
  } catch (error) {
    return {error: errorMessage(error)}
  }
  return {files}
}

type Parts = Pick<EngineParts, 'config' | 'logger' | 'stats' | 'listenerStats' | 'connections' | 'api' | 'pool' | 'refresh'>

export function uiService(parts: Parts, options: {now?: () => number} = {}): Service {
  const {config, logger, stats, listenerStats, connections, api} = parts
  const now = options.now ?? Date.now
  const history = new TrafficHistory(config.ui.sampleMs, config.ui.windowMs)
  // Errors: client connections that failed or were refused, as `edgeproxy status` counts them.
  // With workers the counters are their sums (refresh() brings them up to date) and the open
  // connections are the listeners' (the workers hold them), as /health counts them.
  const totals = (): TrafficTotals => ({
    connections: stats.accepted,
    errors: clientErrors(stats),
    active: parts.pool ? listenerStats.tcp.active + listenerStats.tls.active : connections.size,
  })
  let isSampling = false
  const sample = async (): Promise<void> => {
    if (isSampling) return
    isSampling = true
    try {
      await parts.refresh()
      history.record(now(), totals())
    } catch (error) {
      logger.debug('ui_sample_failed', `the status page's traffic sample failed: ${errorMessage(error)}`)
    } finally {
      isSampling = false
    }
  }
  const page = loadPage()
  let timer: NodeJS.Timeout | undefined

  const serve = (name: string) => async (): Promise<HandlerResult> => {
    if ('error' in page) {
      throw new HttpError(503, 'ui_unavailable', `the status page's files are missing from this install (${page.error}); reinstall edgeproxy`)
    }
    return {body: page.files.get(name)!, contentType: PAGE_FILES[name], headers: PAGE_HEADERS}
  }
  const routes: ApiRoute[] = [
    {pattern: /^\/ui\/?$/, isPublic: true, methods: {GET: serve('index.html')}},
    ...['app.js', 'app.css', 'icon.svg'].map((name) => ({
      pattern: new RegExp(`^/ui/${name.replace('.', '\\.')}$`),
      isPublic: true,
      methods: {GET: serve(name)},
    })),
    {pattern: /^\/api\/v1\/traffic$/, methods: {GET: async () => ({body: history.toJSON()})}},
  ]
  api?.addRoutes(routes)

  return {
    name: 'ui',
    async start() {
      if ('error' in page) logger.warn('ui_unavailable', `the status page is off: its files are missing from this install (${page.error})`)
      await sample()
      timer = setInterval(() => void sample(), config.ui.sampleMs)
      timer.unref()
    },
    // Sampling goes on through a drain, so the charts show connections finishing.
    close() {
      if (timer) clearInterval(timer)
    },
  }
}
