// @ts-check
// The status page of one edgeproxy POP: reads GET /health, /api/v1/backends and /api/v1/traffic
// every few seconds and GET /api/v1/route on demand, and draws them. Read-only: it changes nothing.
// Every value reaches the page as text (textContent, setAttribute), never as HTML: backend ids and
// apps are operator- or client-provided. The API token, when one is needed, lives in this tab's
// sessionStorage only. No framework, no build step: this file is what the browser runs.

const TOKEN_KEY = 'edgeproxy.api-token'
const DEFAULT_REFRESH_SECS = 5

/** @typedef {{id: string, app: string, region: string, country: string, ip: string, port: number, state: string,
 *   weight: number, soft_limit: number, hard_limit: number, connections: number | null,
 *   lease_expires_at: string | null, heartbeat_age_secs: number | null, registered_by?: string | null,
 *   check?: {state: string, label: string, last_error?: string | null} | null,
 *   circuit?: {state: string, label: string} | null, routing_state?: string | null, [k: string]: unknown}} Backend */
/** @typedef {{sample_secs: number, window_secs: number, last_sample_at: string | null,
 *   connections_per_sec: number[], errors_per_sec: number[], active: number[]}} Traffic */
/** @typedef {{status: number, body: any}} Reply */
/** @typedef {{word: string, tone: string, symbol: string, detail: string}} StateView */

class TokenRefused extends Error {}

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

/**
 * Builds an element; children that are strings become text nodes. Props: `class`, `text`, and
 * attributes (set with setAttribute, so values are never parsed as markup).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [props]
 * @param {(Node | string | null | undefined)[]} children
 * @returns {HTMLElement}
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue
    if (k === 'class') el.className = String(v)
    else if (k === 'text') el.textContent = String(v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c)
  return el
}

const SVG = 'http://www.w3.org/2000/svg'
/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

// ---- formatting ------------------------------------------------------------------------------

/** @param {number} secs */
function duration(secs) {
  const s = Math.max(0, Math.round(secs))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`
}
/** @param {number} n */
const count = (n) => n.toLocaleString('en-US')
/** @param {number} n */
const rate = (n) => (n >= 100 ? count(Math.round(n)) : n >= 10 ? n.toFixed(1) : String(Math.round(n * 100) / 100))
/**
 * @param {number} n
 * @param {string} noun
 */
const plural = (n, noun) => `${count(n)} ${noun}${n === 1 ? '' : 's'}`
/** @param {string} iso */
const day = (iso) => iso.slice(0, 10)

/**
 * The word operators read for a backend: this POP's own answer (`routing_state`, the words of
 * edgeproxy_backends{state}, from Router.routingState), never worked out again here. Tones drive
 * colour; the word always says it.
 * @type {Record<string, (b: Backend) => StateView>}
 */
const STATE_VIEWS = {
  up: () => ({word: 'healthy', tone: 'ok', symbol: '●', detail: 'takes new connections'}),
  unhealthy: () => ({word: 'disabled', tone: 'off', symbol: '○', detail: 'disabled by an operator: takes no traffic'}),
  draining: () => ({word: 'draining', tone: 'warn', symbol: '◐', detail: 'no new connections; open ones continue'}),
  expired: () => ({word: 'expired', tone: 'bad', symbol: '✕', detail: 'the heartbeat lease ran out'}),
  deleted: () => ({word: 'deleted', tone: 'off', symbol: '✕', detail: 'deregistered'}),
  down: (b) => ({word: 'down', tone: 'bad', symbol: '✕', detail: `down by active check${b.check?.last_error ? `: ${b.check.last_error}` : ''}`}),
  circuit_open: (b) => ({word: 'circuit open', tone: 'bad', symbol: '⊘', detail: `circuit ${b.circuit?.label ?? 'open'}: no new connections until it half-opens`}),
  circuit_half_open: (b) => ({word: 'half-open', tone: 'warn', symbol: '◑', detail: `circuit ${b.circuit?.label ?? 'half-open'}: trial connections only`}),
  cooling_down: (b) => ({word: 'cooling', tone: 'warn', symbol: '◔', detail: `${b.circuit?.label ?? 'cooling'} after a failed connect`}),
}

/**
 * @param {Backend} b
 * @returns {StateView}
 */
function stateOf(b) {
  const word = b.routing_state ?? (b.state === 'healthy' ? 'up' : b.state)
  return (STATE_VIEWS[word] ?? (() => ({word: String(word), tone: 'warn', symbol: '?', detail: String(word)})))(b)
}

/** @param {StateView} s */
function stateBadge(s) {
  return h('span', {class: 'state', 'data-tone': s.tone, 'data-state': s.word, title: s.detail}, h('span', {'aria-hidden': 'true', text: s.symbol}), ` ${s.word}`)
}

// ---- API -------------------------------------------------------------------------------------

let token = sessionStorage.getItem(TOKEN_KEY) ?? ''
/** Set when the token in use was typed just now: a 401 then means "wrong token", not "token needed". */
let isTokenNew = false
let isWaitingForToken = false

/**
 * @param {string} path
 * @returns {Promise<Reply>}
 */
async function api(path) {
  /** @type {Record<string, string>} */
  const headers = {accept: 'application/json'}
  if (token !== '') headers.authorization = `Bearer ${token}`
  const res = await fetch(path, {headers, cache: 'no-store', credentials: 'omit'})
  let body = null
  try {
    body = await res.json()
  } catch {
    body = null
  }
  if (res.status === 401) throw new TokenRefused(body?.error?.message ?? 'unauthorized')
  return {status: res.status, body}
}

// ---- refresh loop ----------------------------------------------------------------------------

let refreshSecs = DEFAULT_REFRESH_SECS
let isPaused = false
/** @type {number | undefined} */
let timer
let lastOkMs = 0
/** The last backends read, so the filter redraws without asking the API. @type {Backend[]} */
let lastList = []
let lastRegion = ''

function schedule() {
  clearTimeout(timer)
  if (!isPaused && !isWaitingForToken) timer = window.setTimeout(() => void refresh(), refreshSecs * 1000)
}

async function refresh() {
  clearTimeout(timer)
  if (isWaitingForToken) return
  if (document.hidden) return schedule()
  try {
    const [health, backends, traffic] = await Promise.all([api('/health'), api('/api/v1/backends'), api('/api/v1/traffic')])
    if (backends.status !== 200) throw new Error(backends.body?.error?.message ?? `GET /api/v1/backends answered ${backends.status}`)
    if (isTokenNew) {
      isTokenNew = false
      byId('token-section').hidden = true
    }
    byId('forget').hidden = token === ''
    lastOkMs = Date.now()
    hideProblem()
    const list = /** @type {Backend[]} */ (backends.body.backends)
    renderPop(health.body ?? {}, health.status)
    if (traffic.status === 200) {
      const t = /** @type {Traffic} */ (traffic.body)
      refreshSecs = Math.min(10, Math.max(1, t.sample_secs))
      renderTraffic(t)
    }
    lastList = list
    lastRegion = health.body?.region ?? ''
    renderBackends(lastList, lastRegion)
    renderCluster(health.body ?? {}, list)
    byId('updated').textContent = `updated ${new Date(lastOkMs).toLocaleTimeString()} · every ${refreshSecs} s${isPaused ? ' (paused)' : ''}`
  } catch (error) {
    if (error instanceof TokenRefused) return askForToken()
    const age = lastOkMs > 0 ? `; the figures below are from ${duration((Date.now() - lastOkMs) / 1000)} ago` : ''
    showProblem(`Cannot read the proxy's API (${error instanceof Error ? error.message : String(error)}); retrying every ${refreshSecs} s${age}.`)
    byId('updated').textContent = lastOkMs > 0 ? `stale since ${new Date(lastOkMs).toLocaleTimeString()}` : 'not loaded'
  }
  schedule()
}

/** @param {string} text */
function showProblem(text) {
  const p = byId('problem')
  p.textContent = text
  p.hidden = false
}
function hideProblem() {
  byId('problem').hidden = true
}

function askForToken() {
  const wasTyped = isTokenNew || token !== ''
  isWaitingForToken = true
  clearTimeout(timer)
  sessionStorage.removeItem(TOKEN_KEY)
  token = ''
  isTokenNew = false
  byId('forget').hidden = true
  byId('token-section').hidden = false
  byId('token-error').textContent = wasTyped ? 'The API refused this token (401 unauthorized): check the value of EDGEPROXY_API_TOKEN on the proxy.' : ''
  const input = /** @type {HTMLInputElement} */ (byId('token'))
  input.value = ''
  input.focus()
  byId('updated').textContent = 'waiting for the API token'
}

// ---- this POP --------------------------------------------------------------------------------

/**
 * @param {HTMLElement} dl
 * @param {[string, string | Node][]} rows
 */
function facts(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {text: k}), h('dd', {}, v)]))
}

const KNOWN_HEALTH = new Set(['status', 'degraded_reasons', 'warnings', 'version', 'region', 'backends', 'routable', 'uptime_secs', 'store', 'connections', 'expiry', 'corrosion'])

/**
 * @param {any} health
 * @param {number} httpStatus
 */
function renderPop(health, httpStatus) {
  const status = String(health.status ?? (httpStatus === 200 ? 'ok' : 'unknown'))
  const tone = status === 'ok' ? 'ok' : status === 'draining' ? 'warn' : 'bad'
  const badge = byId('pop-status')
  badge.dataset.tone = tone
  badge.textContent = `${tone === 'ok' ? '●' : tone === 'warn' ? '◐' : '▲'} ${status}`
  byId('pop-name').textContent = health.region ? `· region ${health.region}` : ''
  document.title = `edgeproxy ${health.region ?? ''} · ${status}`
  const store = health.store ?? {}
  const sync = store.last_sync_age_secs == null ? 'never synced' : `synced ${duration(store.last_sync_age_secs)} ago`
  /** @type {[string, string | Node][]} */
  const rows = [
    ['Version', String(health.version ?? '?')],
    ['Region', String(health.region ?? '?')],
    ['Uptime', health.uptime_secs == null ? '?' : duration(health.uptime_secs)],
    ['Store', String(store.target ?? store.kind ?? '?')],
    ['Sync', store.current === false ? stateBadge({word: `NOT CURRENT (${store.error ?? 'read failed'}), ${sync}`, tone: 'bad', symbol: '▲', detail: 'routing runs on the last good table'}) : sync],
  ]
  if (store.subscription) rows.push(['Subscription', String(store.subscription)])
  rows.push(['Backends', `${count(health.backends ?? 0)} (${count(health.routable ?? 0)} routable)`])
  const c = health.connections ?? {}
  rows.push(['Connections', `${count(c.active ?? 0)} open · ${count(c.accepted ?? 0)} accepted since start`])
  const cert = health.expiry?.tls_certificate
  if (cert) rows.push(['TLS certificate', `${cert.subject} · expires ${day(cert.expires_at)} (${cert.days_left <= 0 ? 'EXPIRED' : `in ${cert.days_left} days`})`])
  const geo = health.expiry?.geoip
  if (geo) rows.push(['GeoIP database', `built ${day(geo.built_at)} (${geo.age_days} days ago)`])
  facts(byId('pop-facts'), rows)

  const reasons = byId('reasons')
  reasons.replaceChildren()
  const list = (/** @type {string} */ title, /** @type {string} */ tone, /** @type {unknown[]} */ items) => {
    if (!Array.isArray(items) || items.length === 0) return
    reasons.append(h('h3', {class: 'list-title', 'data-tone': tone, text: title}), h('ul', {class: 'reasons'}, ...items.map((r) => h('li', {text: String(r)}))))
  }
  list('Degraded because', 'bad', health.degraded_reasons)
  list('Warnings', 'warn', health.warnings)
  const extra = Object.entries(health).filter(([k, v]) => !KNOWN_HEALTH.has(k) && v !== null && typeof v === 'object')
  if (extra.length > 0) {
    const dl = h('dl', {class: 'facts'})
    facts(dl, extra.flatMap(([k, v]) => flatten(k, v)))
    reasons.append(h('details', {class: 'more'}, h('summary', {text: 'More from /health'}), dl))
  }
}

/**
 * @param {string} prefix
 * @param {unknown} value
 * @returns {[string, string][]}
 */
function flatten(prefix, value) {
  if (value === null || typeof value !== 'object') return [[prefix, String(value)]]
  if (Array.isArray(value)) return [[prefix, value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ')]]
  return Object.entries(value).flatMap(([k, v]) => flatten(`${prefix}.${k}`, v))
}

// ---- traffic ---------------------------------------------------------------------------------

/**
 * A sparkline of one series, right-aligned on a window of `capacity` samples, with its title, the
 * latest value and the scale as text (the SVG's label says the same for screen readers).
 * @param {HTMLElement} figure
 * @param {string} title
 * @param {number[]} values
 * @param {number} capacity
 * @param {string} tone
 * @param {string} unit
 */
function chart(figure, title, values, capacity, tone, unit) {
  const W = 300
  const H = 56
  const peak = values.reduce((m, v) => Math.max(m, v), 0)
  const top = niceMax(peak)
  const now = values.length > 0 ? values[values.length - 1] : 0
  const step = W / Math.max(1, capacity - 1)
  const points = values.map((v, i) => `${(W - (values.length - 1 - i) * step).toFixed(1)},${(H - (v / top) * (H - 4)).toFixed(1)}`)
  const label = `${title}: now ${rate(now)}, peak ${rate(peak)} over the last ${duration(values.length * refreshSecsOfChart)}`
  const box = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'none', class: 'spark', 'data-tone': tone})
  box.append(svg('line', {x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'axis'}), svg('line', {x1: 0, y1: 4, x2: W, y2: 4, class: 'grid'}))
  if (points.length > 1) {
    const first = points[0].split(',')[0]
    box.append(svg('polygon', {points: `${first},${H} ${points.join(' ')} ${W},${H}`, class: 'area'}), svg('polyline', {points: points.join(' '), class: 'line'}))
  }
  figure.dataset.now = String(now)
  figure.dataset.peak = String(peak)
  figure.replaceChildren(
    h('figcaption', {}, h('span', {class: 'chart-title', text: title}), h('span', {class: 'chart-now', text: `now ${rate(now)}${unit} · peak ${rate(peak)}${unit}`})),
    box,
    h('div', {class: 'chart-scale muted', 'aria-hidden': 'true'}, h('span', {text: `−${duration((capacity - 1) * refreshSecsOfChart)}`}), h('span', {text: `scale 0–${rate(top)}${unit}`}), h('span', {text: 'now'})),
  )
}
let refreshSecsOfChart = DEFAULT_REFRESH_SECS

/** @param {number} n */
function niceMax(n) {
  if (n <= 1) return 1
  const p = 10 ** Math.floor(Math.log10(n))
  for (const m of [1, 2, 5, 10]) if (n <= m * p) return m * p
  return 10 * p
}

/** @param {Traffic} t */
function renderTraffic(t) {
  refreshSecsOfChart = t.sample_secs
  const capacity = Math.max(2, Math.round(t.window_secs / t.sample_secs))
  chart(byId('chart-connections'), 'New connections per second', t.connections_per_sec, capacity, 'ok', '/s')
  chart(byId('chart-errors'), 'Errors per second', t.errors_per_sec, capacity, 'bad', '/s')
  chart(byId('chart-open'), 'Open connections', t.active, capacity, 'ok', '')
  byId('traffic-note').textContent = `A sample every ${t.sample_secs} s over the last ${duration(t.window_secs)}. Errors are client connections that failed (no backend, every connect failed, a bad PROXY header, a handshake) or that admission limits refused.`
}

// ---- backends --------------------------------------------------------------------------------

/** @type {Map<string, {details: HTMLDetailsElement, summary: HTMLElement, body: HTMLElement}>} */
const groups = new Map()

/**
 * A bar of live connections against the limits: the fill is the count, a mark is the soft limit,
 * the end of the track the hard limit (or room past the soft limit when there is none).
 * @param {Backend} b
 */
function meter(b) {
  const n = b.connections ?? 0
  const soft = b.soft_limit > 0 ? b.soft_limit : 1
  const max = b.hard_limit > 0 ? b.hard_limit : Math.max(Math.ceil(soft * 1.5), n)
  const tone = b.hard_limit > 0 && n >= b.hard_limit ? 'bad' : n > soft ? 'warn' : 'ok'
  const where = b.hard_limit > 0 && n >= b.hard_limit ? ' (at the hard limit)' : n > soft ? ' (over the soft limit)' : ''
  const text = `${count(n)} of ${b.hard_limit > 0 ? `hard ${count(b.hard_limit)}` : 'no hard limit'}, soft ${count(b.soft_limit)}${where}`
  const fill = h('span', {class: 'fill', 'data-tone': tone})
  fill.style.width = `${Math.min(100, (n / max) * 100)}%`
  const mark = h('span', {class: 'mark', 'aria-hidden': 'true'})
  mark.style.left = `${Math.min(100, (soft / max) * 100)}%`
  const bar = h('span', {class: 'bar', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': max, 'aria-valuenow': n, 'aria-valuetext': text, 'aria-label': `connections of ${b.id}`}, fill, mark)
  return h('div', {class: 'conns'}, bar, h('span', {class: 'conns-text'}, h('strong', {text: count(n)}), where ? h('span', {class: 'note', text: where.trim()}) : null))
}

/**
 * The POP whose API took the backend's last register (its region); '-' when the row was written by
 * SQL or straight into the store (null), or by a proxy too old to say (absent).
 * @param {Backend} b
 */
const registeredBy = (b) => `registered by ${b.registered_by ?? '-'}`

/** @param {Backend} b */
function lease(b) {
  const beat = b.heartbeat_age_secs == null ? 'never' : `${duration(b.heartbeat_age_secs)} ago`
  if (b.lease_expires_at == null) return `no lease · heartbeat ${beat} · ${registeredBy(b)}`
  const left = (Date.parse(b.lease_expires_at) - Date.now()) / 1000
  return `${left > 0 ? `expires in ${duration(left)}` : `expired ${duration(-left)} ago`} · heartbeat ${beat} · ${registeredBy(b)}`
}

/**
 * @param {Backend[]} list
 * @param {string} localRegion
 */
function renderBackends(list, localRegion) {
  const filter = /** @type {HTMLInputElement} */ (byId('filter')).value.trim().toLowerCase()
  const live = list.filter((b) => b.state !== 'deleted')
  const shown = filter === '' ? live : live.filter((b) => [b.id, b.app, b.region, b.ip, stateOf(b).word].some((f) => String(f).toLowerCase().includes(filter)))
  const byState = new Map()
  for (const b of live) byState.set(stateOf(b).word, (byState.get(stateOf(b).word) ?? 0) + 1)
  const total = live.reduce((n, b) => n + (b.connections ?? 0), 0)
  byId('backends-summary').textContent =
    live.length === 0
      ? 'No backends registered.'
      : `${plural(live.length, 'backend')}: ${[...byState].map(([s, n]) => `${n} ${s}`).join(', ')} · ${plural(total, 'connection')}${filter ? ` · ${shown.length} match the filter` : ''}`
  const hasHealth = live.some((b) => b.check != null || (b.circuit != null && b.circuit.state !== 'closed'))

  /** @type {Map<string, Backend[]>} */
  const grouped = new Map()
  const regionRank = (/** @type {string} */ r) => (r === localRegion ? '' : r)
  const sorted = [...shown].sort((a, b) => (a.app === b.app ? (regionRank(a.region) === regionRank(b.region) ? (a.id < b.id ? -1 : 1) : regionRank(a.region) < regionRank(b.region) ? -1 : 1) : a.app < b.app ? -1 : 1))
  for (const b of sorted) {
    const key = JSON.stringify([b.app, b.region])
    if (!grouped.has(key)) grouped.set(key, [])
    grouped.get(key)?.push(b)
  }
  const container = byId('groups')
  for (const [key, g] of groups) {
    if (!grouped.has(key)) {
      g.details.remove()
      groups.delete(key)
    }
  }
  const order = [...grouped.keys()]
  const current = [...container.children].map((el) => /** @type {HTMLElement} */ (el).dataset.key)
  for (const [key, members] of grouped) {
    let g = groups.get(key)
    if (g === undefined) {
      const summary = h('summary')
      const body = h('div', {class: 'table-wrap'})
      const details = /** @type {HTMLDetailsElement} */ (h('details', {class: 'group', open: true, 'data-key': key}, summary, body))
      g = {details, summary, body}
      groups.set(key, g)
    }
    const [app, region] = /** @type {[string, string]} */ (JSON.parse(key))
    const conns = members.reduce((n, b) => n + (b.connections ?? 0), 0)
    const up = members.filter((b) => stateOf(b).word === 'healthy').length
    g.summary.replaceChildren(
      h('span', {class: 'group-name'}, h('span', {class: 'muted', text: 'app '}), app || '(none)', h('span', {class: 'muted', text: ' · region '}), region, region === localRegion ? h('span', {class: 'tag', text: 'this POP'}) : null),
      h('span', {class: 'muted', text: ` ${plural(members.length, 'backend')}, ${up} healthy, ${plural(conns, 'connection')}`}),
    )
    g.body.replaceChildren(backendTable(members, hasHealth, `Backends of app ${app || '(none)'} in region ${region}`))
  }
  if (order.join('\n') !== current.join('\n')) {
    for (const key of order) container.append(/** @type {HTMLElement} */ (groups.get(key)?.details))
  }
}

/**
 * @param {Backend[]} members
 * @param {boolean} hasHealth
 * @param {string} caption
 */
function backendTable(members, hasHealth, caption) {
  const heads = ['Backend', 'State', 'Address', 'Weight', 'Connections', 'Limits (soft / hard)', ...(hasHealth ? ['Check', 'Circuit'] : []), 'Lease']
  const row = (/** @type {Backend} */ b) => {
    const s = stateOf(b)
    const cells = [
      h('th', {scope: 'row', class: 'id', text: String(b.id)}),
      h('td', {}, stateBadge(s)),
      h('td', {class: 'mono', text: `${b.ip.includes(':') ? `[${b.ip}]` : b.ip}:${b.port}${b.country ? ` · ${b.country}` : ''}`}),
      h('td', {class: 'num', text: String(b.weight)}),
      h('td', {}, meter(b)),
      h('td', {class: 'num', text: `${count(b.soft_limit)} / ${b.hard_limit > 0 ? count(b.hard_limit) : 'none'}`}),
      ...(hasHealth ? [h('td', {text: b.check ? b.check.label : 'off'}), h('td', {text: b.circuit ? b.circuit.label : '—'})] : []),
      h('td', {class: 'small', text: lease(b)}),
    ]
    cells.forEach((c, i) => c.setAttribute('data-label', heads[i]))
    return h('tr', {'data-backend-id': b.id, 'data-state': s.word}, ...cells)
  }
  return h(
    'table',
    {class: 'backends'},
    h('caption', {class: 'visually-hidden', text: caption}),
    h('thead', {}, h('tr', {}, ...heads.map((t) => h('th', {scope: 'col', text: t})))),
    h('tbody', {}, ...members.map(row)),
  )
}

// ---- Corrosion: the cluster's view -----------------------------------------------------------

/**
 * @param {any} health
 * @param {Backend[]} list
 */
function renderCluster(health, list) {
  const section = byId('cluster')
  const isCorrosion = health.store?.kind === 'corrosion'
  section.hidden = !isCorrosion
  if (!isCorrosion) return
  // The agent's own view of its cluster, as /health reports it (the `corrosion` section).
  const agent = health.corrosion
  /** @type {[string, string | Node][]} */
  const rows = [['Agent', String(health.store?.target ?? '?').replace(/^corrosion:/, '')]]
  if (health.store?.subscription) {
    const sub = String(health.store.subscription)
    rows.push(['Subscription', stateBadge({word: sub, tone: sub === 'connected' ? 'ok' : 'bad', symbol: sub === 'connected' ? '●' : '▲', detail: 'the Corrosion subscription that feeds the routing table'})])
  }
  if (agent == null || typeof agent !== 'object') rows.push(['Members, gaps', 'not reported by this proxy'])
  else if (agent.members == null) rows.push(['Members, gaps', 'unknown: the agent could not be read'])
  else {
    const few = agent.min_members > 0 && agent.members < agent.min_members
    const members = `${count(agent.members)} other agent${agent.members === 1 ? '' : 's'} alive${agent.min_members > 0 ? ` (at least ${agent.min_members} expected)` : ''}`
    rows.push(['Members', few ? stateBadge({word: members, tone: 'bad', symbol: '▲', detail: 'the agent is cut off from its cluster'}) : members])
    rows.push(['Gaps', agent.gaps === 0 ? 'none' : `${count(agent.gaps)} change versions missing`])
    if (agent.checked_age_secs != null) rows.push(['Checked', `${duration(agent.checked_age_secs)} ago`])
  }
  facts(byId('agent-facts'), rows)

  /** @type {Map<string, Backend[]>} */
  const regions = new Map()
  for (const b of list) {
    if (b.state === 'deleted') continue
    if (!regions.has(b.region)) regions.set(b.region, [])
    regions.get(b.region)?.push(b)
  }
  const cards = [...regions].sort(([a], [b]) => (a === health.region ? -1 : b === health.region ? 1 : a < b ? -1 : 1)).map(([region, members]) => {
    const states = new Map()
    for (const b of members) states.set(stateOf(b).word, (states.get(stateOf(b).word) ?? 0) + 1)
    const apps = [...new Set(members.map((b) => b.app))].sort()
    return h(
      'article',
      {class: 'region', 'data-region': region},
      h('h3', {}, `Region ${region}`, region === health.region ? h('span', {class: 'tag', text: 'this POP'}) : null),
      h('p', {text: `${plural(members.length, 'backend')}: ${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}`}),
      h('p', {class: 'muted small', text: `apps: ${apps.join(', ')}`}),
      h(
        'ul',
        {class: 'region-list'},
        ...members.map((b) => h('li', {'data-backend-id': b.id}, h('span', {class: 'mono', text: b.id}), ' ', stateBadge(stateOf(b)), h('span', {class: 'muted small', text: ` · ${registeredBy(b)}`}))),
      ),
    )
  })
  byId('regions').replaceChildren(...cards)
}

// ---- route explain ---------------------------------------------------------------------------

/** @param {SubmitEvent} event */
async function explain(event) {
  event.preventDefault()
  const ip = /** @type {HTMLInputElement} */ (byId('route-ip')).value.trim()
  const app = /** @type {HTMLInputElement} */ (byId('route-app')).value.trim()
  const out = byId('route-answer')
  if (ip === '') return
  out.replaceChildren(h('p', {class: 'muted', text: `asking about ${ip}${app ? ` for app ${app}` : ''}…`}))
  let reply
  try {
    reply = await api(`/api/v1/route?ip=${encodeURIComponent(ip)}${app ? `&app=${encodeURIComponent(app)}` : ''}`)
  } catch (error) {
    if (error instanceof TokenRefused) return askForToken()
    out.replaceChildren(h('p', {class: 'error', text: `Cannot reach the API: ${error instanceof Error ? error.message : String(error)}`}))
    return
  }
  if (reply.status !== 200) {
    out.replaceChildren(h('p', {class: 'error', text: reply.body?.error?.message ?? `the API answered ${reply.status}`}))
    return
  }
  const r = reply.body
  const chosen = r.chosen == null ? h('strong', {'data-tone': 'bad', text: 'no backend'}) : h('strong', {class: 'mono', text: String(r.chosen)})
  /** @type {[string, string][]} */
  const rows = [
    ['Client', `${r.ip} · country ${r.country ?? 'unknown'} · region ${r.client_region ?? 'unknown'}`],
    ['App', r.app == null ? 'every app' : String(r.app)],
    ['This POP', `region ${r.pop_region}`],
    ['Affinity binding', r.binding == null ? 'none' : String(r.binding)],
  ]
  const dl = h('dl', {class: 'facts'})
  facts(dl, rows)
  const heads = ['Backend', 'App', 'Region', 'Country', 'State', 'Conns', 'Geo', 'Load', 'Score', 'Eligible']
  const table = h(
    'table',
    {class: 'candidates'},
    h('caption', {class: 'visually-hidden', text: `Candidates for ${r.ip}, best first`}),
    h('thead', {}, h('tr', {}, ...heads.map((t) => h('th', {scope: 'col', text: t})))),
    h(
      'tbody',
      {},
      ...(r.candidates ?? []).map((/** @type {any} */ c) => {
        const cells = [
          h('th', {scope: 'row', class: 'id', text: String(c.id)}),
          h('td', {text: String(c.app)}),
          h('td', {text: String(c.region)}),
          h('td', {text: String(c.country || '—')}),
          h('td', {}, stateBadge(stateOf(c))),
          h('td', {class: 'num', text: String(c.connections)}),
          h('td', {class: 'num', text: String(c.geo_score)}),
          h('td', {class: 'num', text: String(c.load_factor)}),
          h('td', {class: 'num', text: String(c.score)}),
          h('td', {text: c.eligible ? 'yes' : `no: ${c.skipped}${c.skipped_detail ? ` (${c.skipped_detail})` : ''}`}),
        ]
        cells.forEach((cell, i) => cell.setAttribute('data-label', heads[i]))
        return h('tr', {'data-backend-id': String(c.id), class: c.id === r.chosen ? 'chosen' : ''}, ...cells)
      }),
    ),
  )
  const parts = [h('p', {id: 'route-chosen', class: 'answer', 'data-chosen': r.chosen ?? ''}, `${r.ip} → `, chosen, ` (${r.reason})`), dl, h('div', {class: 'table-wrap'}, table)]
  if (r.dns && Array.isArray(r.dns.apps)) {
    parts.push(h('h3', {class: 'list-title', text: 'DNS would answer'}), h('ul', {class: 'reasons'}, ...r.dns.apps.map((/** @type {any} */ a) => h('li', {class: 'mono', text: `${a.name} ${a.rcode} ${a.addresses.join(' ')} · nearest ${a.nearest.join(' ') || '—'}`}))))
  }
  out.replaceChildren(...parts)
}

// ---- wiring ----------------------------------------------------------------------------------

byId('refresh').addEventListener('click', () => void refresh())
byId('pause').addEventListener('click', () => {
  isPaused = !isPaused
  const button = byId('pause')
  button.setAttribute('aria-pressed', String(isPaused))
  button.textContent = isPaused ? 'Resume' : 'Pause'
  if (isPaused) clearTimeout(timer)
  else void refresh()
})
byId('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  token = ''
  void refresh()
})
byId('token-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = /** @type {HTMLInputElement} */ (byId('token'))
  token = input.value.trim()
  if (token === '') return
  sessionStorage.setItem(TOKEN_KEY, token)
  isTokenNew = true
  isWaitingForToken = false
  byId('token-error').textContent = 'checking…'
  void refresh()
})
byId('route-form').addEventListener('submit', (event) => void explain(/** @type {SubmitEvent} */ (event)))
byId('filter').addEventListener('input', () => renderBackends(lastList, lastRegion))
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh()
})
void refresh()
