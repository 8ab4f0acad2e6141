// The live run board: a local web page over a folder of run folders (their curves as they train,
// runs compared side by side, recipes diffed, reports linked). Never imports tensors.
export { type DiffRow, diffRecipes, flattenRecipe } from './recipe_diff.ts';
export { findRuns, isRunFolder, RunCache, type RunStatus, type RunSummary, runStatus, summarize } from './runs.ts';
export { type Board, type BoardOptions, boardHandler, isLoopback, startBoard } from './server.ts';
export { type LineWarning, MetricsTail, parseLines, type TailChunk } from './tail.ts';
