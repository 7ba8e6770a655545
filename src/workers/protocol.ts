// The messages between the control plane (main thread) and its workers, and the configuration as
// it crosses to a worker (structured clone carries no functions, so CIDR lists travel as text).
import type {StartConfig} from '../config/start-config.js'
import {parseCidrList, type HostPort} from '../net/address.js'
import type {OutcomeMessage, TableMessage} from './shared-router-state.js'
import type {SharedLayout} from './shared-memory.js'

export interface WorkerData {
  index: number
  buffer: SharedArrayBuffer
  layout: SharedLayout
  /** The client table of per-client admission (src/admission/client-table.ts); undefined when it is off. */
  admissionBuffer?: SharedArrayBuffer
  config: StartConfig
  /** Where to listen: the first worker asks for the configured port (maybe 0), the others for the port it got. */
  tcp: HostPort
  tls?: HostPort
}

export interface CounterSnapshot {
  stats: Record<string, number>
  listeners: Record<'tcp' | 'tls', {accepted: number; completed: number; bytesFromClients: number; bytesToClients: number}>
  decisions: number[]
  /** Per slot word: connections, connectErrors, connectTimeCount, connectTimeSumMs, then the buckets. */
  backends: [word: number, figures: number[]][]
  open: number
}

export type ToWorker =
  | TableMessage
  | {type: 'collect'; id: number}
  | {type: 'reload'}
  | {type: 'drain'; timeoutMs: number}
  | {type: 'cut'}
  /** Fault drill (EDGEPROXY_TEST_FAULTS=1 and SIGUSR2): the worker throws, as a bug would. */
  | {type: 'crash'}

export type FromWorker =
  | {type: 'ready'; tcp: HostPort; tls?: HostPort}
  /** Start-up failed (a bind, a certificate): the error as the CLI prints it. */
  | {type: 'start_failed'; code?: string; message: string; exitCode?: number; suggestion?: string}
  | OutcomeMessage
  | ({type: 'counters'; id: number} & CounterSnapshot)
  | {type: 'draining'; open: number}
  | {type: 'drained'; drained: number; cut: number}

/** The configuration as it can be posted to a worker. */
export function cloneableConfig(config: StartConfig): StartConfig {
  return {
    ...config,
    proxyProtocol: config.proxyProtocol ? {trusted: {text: config.proxyProtocol.trusted.text} as never} : undefined,
  }
}

/** The configuration a worker got, with its CIDR lists parsed again. */
export function reviveConfig(config: StartConfig): StartConfig {
  return {
    ...config,
    proxyProtocol: config.proxyProtocol ? {trusted: parseCidrList(config.proxyProtocol.trusted.text)} : undefined,
  }
}
