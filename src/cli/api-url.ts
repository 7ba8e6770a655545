// Where the `backend` and `route` commands find a running proxy's API: --api-url /
// EDGEPROXY_API_URL, checked (a value that is not an http(s) URL is exit 3), else the default.
import {DEFAULT_API_URL} from '../discovery/backend-client.js'
import {parseHttpUrl} from './url.js'

/** `label` is how the operator gave the value (`--api-url` or `EDGEPROXY_API_URL`), for the error. */
export function apiUrlOf(value: string | undefined, label: string): string {
  return value === undefined ? DEFAULT_API_URL : parseHttpUrl(value, label, DEFAULT_API_URL)
}
