export * from './dtype.js';
export * from './half.js';
export * from './tensor-data.js';
export * from './claims.js';
export * from './precision.js';
