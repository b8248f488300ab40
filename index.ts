import { Platform } from "./components/platform";
import { loadSettings } from "./components/settings";
import { ordersService } from "./functions/orders/service";
import { usersService } from "./functions/users/service";

const settings = loadSettings();
// The platform keeps the name it had when it was the users API, so existing stacks keep their
// resources; each service's pieces are named after the service.
const platform = new Platform("users", { settings, services: [usersService, ordersService] });

export const stage = settings.stage;
export const region = settings.region;
export const apiUrl = platform.apiUrl;
export const tableName = platform.tableName;
export const functionNames = platform.functionNames;
export const functionArns = platform.functionArns;
export const dashboardUrl = platform.dashboardUrl;
