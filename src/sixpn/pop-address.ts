// `edgeproxy pop address` without the CLI: the stored plan plus --pop [--app --instance] give the
// POP's 6PN addresses and, for a backend, its derived address. Pure; flags arrive as text.
import {appHash16, backendAddress, MAX_INSTANCE, popAddresses, type PopAddresses, type SixpnState} from './address-plan.js'
import {AddressInputError} from './errors.js'

export interface PopAddressRequest {
  pop: string
  app?: string
  /** As typed: a whole number 0-2^48-1. */
  instance?: string
}

export interface PopAddressResult extends PopAddresses {
  /** The backend's address with --app and --instance, otherwise the POP's WireGuard address. */
  address: string
  backend?: {app: string; appHash: string; instance: number}
}

/** Same rule as the Auto-Discovery API's `app` field, so any registered app has an address. */
function checkApp(app: string): void {
  if (app.trim() === '' || app.length > 64 || /[\u0000-\u001f\u007f]/.test(app)) {
    throw new AddressInputError('--app', `app ${JSON.stringify(app)} must be 1-64 characters without control characters`, 'pass the app name the backend registers with (--app)')
  }
}

function parseInstance(text: string): number {
  const value = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
  if (!Number.isSafeInteger(value) || value > MAX_INSTANCE) {
    throw new AddressInputError('--instance', `instance ${JSON.stringify(text)} is not a whole number 0-${MAX_INSTANCE}`, 'pass --instance the number of the backend within its app at this POP, e.g. 1')
  }
  return value
}

export function describePopAddress(state: SixpnState, request: PopAddressRequest): PopAddressResult {
  if (state.popIds[request.pop] === undefined) {
    const known = Object.keys(state.popIds).sort()
    throw new AddressInputError(
      '--pop',
      `POP ${JSON.stringify(request.pop)} has no 6PN id in the stored plan${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`,
      'pass one of the known POPs, or add it to the topology and run edgeproxy pop generate-config first',
    )
  }
  if ((request.app === undefined) !== (request.instance === undefined)) {
    throw new AddressInputError(request.app === undefined ? '--app' : '--instance', 'a backend address needs both --app and --instance', 'pass both, or neither for the POP\'s own addresses')
  }
  const pop = popAddresses(state, request.pop)
  if (request.app === undefined) return {...pop, address: pop.wireguardAddress}
  checkApp(request.app)
  const instance = parseInstance(request.instance!)
  return {
    ...pop,
    address: backendAddress(state, request.pop, request.app, instance),
    backend: {app: request.app, appHash: appHash16(request.app).toString(16).padStart(4, '0'), instance},
  }
}
