import { Platform } from "./components/platform";
import { loadSettings } from "./components/settings";

const settings = loadSettings();
const platform = new Platform("users", { settings });

export const stage = settings.stage;
export const region = settings.region;
export const apiUrl = platform.apiUrl;
export const tableName = platform.tableName;
export const functionNames = platform.functionNames;
export const functionArns = platform.functionArns;
export const dashboardUrl = platform.dashboardUrl;
