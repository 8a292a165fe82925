export { isExternal, externalDataRef, resolveExternalLocation, UnsafeExternalDataError, type ExternalDataRef } from './location.js';
export { readExternalBytes, ExternalDataError } from './read.js';
