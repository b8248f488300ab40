import { apiHandler } from "../shared/handler";
import { json } from "../shared/http";
import { getUser, notFound } from "./table";
import { parseUserIdParameter } from "./validation";

/** GET /users/{userId} */
export const handler = apiHandler(async (event) => {
  const userId = parseUserIdParameter(event.pathParameters);
  const user = await getUser(userId);
  if (!user) throw notFound(userId);
  return json(200, user);
});
