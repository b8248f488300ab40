import {
  CONFIG_NAMESPACE,
  parseSettings,
  type RawConfig,
  SETTINGS_FIELDS,
  type Settings,
  type SettingsKey,
} from "../../components/settings";
import { PROJECT_DIR } from "../plan/plan";
import { readStackConfig } from "../plan/stack-config";

/**
 * A stack's settings as its program would load them, from `Pulumi.<stack>.yaml` and the project's
 * defaults, without running the program.
 *
 * @throws UnknownStackError when the stack has no stack file; SettingsError for a bad value.
 */
export function readStackSettings(stack: string, projectDir: string = PROJECT_DIR): Settings {
  const stackConfig = readStackConfig(projectDir, stack);
  const raw: RawConfig = {};
  for (const key of Object.keys(SETTINGS_FIELDS) as SettingsKey[]) {
    const value = stackConfig.config[`${CONFIG_NAMESPACE}:${key}`];
    if (value !== undefined) raw[key] = value;
  }
  return parseSettings(raw, { stack, region: stackConfig.region });
}
