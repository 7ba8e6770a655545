// The TLS listener's certificate: loaded and checked at start-up (a bad pair stops start-up), then
// watched on disk so a renewal (certbot, cert-manager, a manual copy) is served to new handshakes
// without a restart. A renewal that does not load (half-written, key mismatch) keeps the old pair.
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import tls from 'node:tls'

import {ConfigError, errorMessage} from '../errors.js'
import type {Logger} from '../log/logger.js'

export interface CertificateInfo {
  subject: string
  notAfter: string
  fingerprint256: string
}

interface Loaded {
  context: tls.SecureContext
  info: CertificateInfo
  signature: string
}

function fileSignature(path: string): string {
  const st = fs.statSync(path)
  return `${st.ino}:${st.size}:${st.mtimeMs}`
}

function load(certPath: string, keyPath: string): Loaded {
  const signature = `${fileSignature(certPath)}|${fileSignature(keyPath)}`
  const cert = fs.readFileSync(certPath)
  const key = fs.readFileSync(keyPath)
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (error) {
    throw new Error(`${certPath} is not a PEM certificate (${errorMessage(error)})`)
  }
  let context: tls.SecureContext
  try {
    context = tls.createSecureContext({cert, key})
  } catch (error) {
    throw new Error(`${certPath} and ${keyPath} do not form a usable pair (${errorMessage(error)})`)
  }
  const cn = /CN=([^\n,]+)/.exec(x509.subject)?.[1] ?? x509.subject.replace(/\n/g, ', ')
  return {context, signature, info: {subject: cn, notAfter: new Date(x509.validTo).toISOString(), fingerprint256: x509.fingerprint256}}
}

export class TlsCertificate {
  private current: Loaded
  private timer?: NodeJS.Timeout
  /** Called when a renewed certificate is in use, before it is logged (workers follow it: src/workers). */
  onChange?: () => void

  constructor(
    private readonly certPath: string,
    private readonly keyPath: string,
    private readonly logger: Logger,
  ) {
    try {
      this.current = load(certPath, keyPath)
    } catch (error) {
      throw new ConfigError(`cannot use the TLS certificate: ${errorMessage(error)}`, {
        field: 'EDGEPROXY_TLS_CERT',
        suggestion: 'point --tls-cert/EDGEPROXY_TLS_CERT and --tls-key/EDGEPROXY_TLS_KEY at a matching PEM certificate and key',
      })
    }
  }

  get context(): tls.SecureContext {
    return this.current.context
  }

  get info(): CertificateInfo {
    return this.current.info
  }

  /** Checks the files every `intervalMs` and reloads when they changed. */
  watch(intervalMs: number): void {
    this.timer = setInterval(() => this.reloadIfChanged(), intervalMs)
    this.timer.unref()
  }

  /** Reloads when either file changed; returns true when a new certificate is now served. */
  reloadIfChanged(): boolean {
    let signature: string
    try {
      signature = `${fileSignature(this.certPath)}|${fileSignature(this.keyPath)}`
    } catch (error) {
      this.fail(error)
      return false
    }
    if (signature === this.current.signature || signature === this.failedSignature) return false
    try {
      const next = load(this.certPath, this.keyPath)
      this.current = next
      this.failedSignature = undefined
      this.lastFailure = undefined
      this.onChange?.()
      this.logger.info('tls_certificate_reloaded', 'serving a renewed TLS certificate', {...next.info})
      return true
    } catch (error) {
      this.failedSignature = signature
      this.fail(error)
      return false
    }
  }

  private failedSignature?: string
  private lastFailure?: string

  private fail(error: unknown): void {
    const message = errorMessage(error)
    if (message === this.lastFailure) return
    this.lastFailure = message
    this.logger.error('tls_certificate_reload_failed', `cannot reload the TLS certificate, still serving the previous one: ${message}`, {
      subject: this.current.info.subject,
      notAfter: this.current.info.notAfter,
    })
  }

  close(): void {
    if (this.timer) clearInterval(this.timer)
  }
}
