import { NotAvailableError } from './errors.js';

/** For a command whose package functions have not landed: fail with exit 2 and say what is missing. */
export function notAvailable(command: string, needs: string): never {
  throw new NotAvailableError(command, needs);
}
