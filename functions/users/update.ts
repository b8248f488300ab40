import { apiHandler } from "../shared/handler";
import { json, parseJsonObjectBody } from "../shared/http";
import { updateUser } from "./table";
import { parseUserFields, parseUserIdParameter } from "./validation";

/** PUT /users/{userId} */
export const handler = apiHandler(async (event) => {
  const userId = parseUserIdParameter(event.pathParameters);
  const fields = parseUserFields(parseJsonObjectBody(event), userId);
  return json(200, await updateUser(userId, fields));
});
