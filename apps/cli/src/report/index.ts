export * from './types.js';
export { renderReport } from './render.js';
export { validateReportData, ReportDataError } from './validate.js';
export { summariseScores, summarisePlan, summariseParams, quantile } from './summary.js';
