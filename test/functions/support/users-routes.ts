import type { ApiHandler } from "../../../functions/shared/handler";
import { handlerEnvironment, type LocalDynamoDb, setEnvironment } from "./local-dynamodb";

/** Every API route's real handler module, as Lambda loads them. */
export interface UsersRoutes {
  list: ApiHandler;
  get: ApiHandler;
  create: ApiHandler;
  update: ApiHandler;
  remove: ApiHandler;
  health: ApiHandler;
}

/**
 * Points the handler modules at `db` and loads them; returns them with the function that restores the
 * environment. The environment is set before the import: SDK client and logger are made at load.
 */
export async function loadUsersRoutes(
  db: LocalDynamoDb,
): Promise<{ routes: UsersRoutes; restore: () => void }> {
  const restore = setEnvironment(handlerEnvironment(db));
  const routes: UsersRoutes = {
    list: (await import("../../../functions/users/list")).handler,
    get: (await import("../../../functions/users/get")).handler,
    create: (await import("../../../functions/users/create")).handler,
    update: (await import("../../../functions/users/update")).handler,
    remove: (await import("../../../functions/users/delete")).handler,
    // The health handler takes no arguments; Lambda passes them anyway.
    health: (await import("../../../functions/health/index")).handler,
  };
  return { routes, restore };
}
