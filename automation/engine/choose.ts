import { OfflineEngine, type OfflineEngineOptions } from "./offline";
import { PulumiEngine, type PulumiEngineOptions } from "./pulumi";
import type { Engine } from "./types";
import { findExecutable } from "./which";

export interface ChooseEngineOptions {
  /** The environment whose PATH is searched. @default process.env */
  env?: NodeJS.ProcessEnv;
  projectDir?: string;
  pulumi?: PulumiEngineOptions;
  offline?: OfflineEngineOptions;
}

/** PulumiEngine when `pulumi` is on PATH, else OfflineEngine (plans and policy only). */
export function chooseEngine(options: ChooseEngineOptions = {}): Engine {
  const projectDir = options.projectDir;
  if (findExecutable("pulumi", options.env ?? process.env)) {
    return new PulumiEngine({ projectDir, processEnv: options.env, ...options.pulumi });
  }
  return new OfflineEngine({ projectDir, ...options.offline });
}
