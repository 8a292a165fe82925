export {
  isExternal,
  externalDataRef,
  externalDataEntries,
  checkRelativeLocation,
  resolveExternalLocation,
  UnsafeExternalDataError,
  DATA_LOCATION_EXTERNAL,
  type ExternalDataRef,
} from './location.js';
export { readExternalBytes, openExternalRange, readRange, ExternalDataError, type OpenedExternalRange } from './read.js';
export { ExternalDataWriter, DEFAULT_ALIGNMENT } from './writer.js';
export { tensorWithoutData, tensorReadingFrom } from './files.js';
