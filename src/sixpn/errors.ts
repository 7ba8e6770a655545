// Errors of the 6PN address commands: a POP, app or instance that gives no address. Exit 3, naming
// the flag to change.
import {InvalidInputError} from '../errors.js'

export class AddressInputError extends InvalidInputError {
  constructor(flag: string, message: string, suggestion: string) {
    super('EP_ADDRESS_INVALID', message, {field: flag, suggestion})
  }
}
