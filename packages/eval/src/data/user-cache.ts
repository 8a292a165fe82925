import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The user's llm-bip cache: `$LLM_BIP_CACHE`, else `$XDG_CACHE_HOME/llm-bip`, else `~/.cache/llm-bip`.
 * HF exports, tokenized datasets and fetched datasets (`data/`) live there.
 */
export function userCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.LLM_BIP_CACHE) return env.LLM_BIP_CACHE;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : tmpdir());
  return join(base, 'llm-bip');
}

/** Where `llm-bip data fetch` puts the datasets: a data folder inside the user cache. */
export function dataCacheDir(env: NodeJS.ProcessEnv): string {
  return join(userCacheDir(env), 'data');
}
